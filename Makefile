# The two commands of the README. Both install what they need first (scripts/bootstrap.sh).
.PHONY: demo test bootstrap bench fuzz clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	.venv/bin/tinyfl demo

test: bootstrap
	.venv/bin/python -m pytest -q

bench: bootstrap
	.venv/bin/python -m bench

# libFuzzer harnesses (tests/fuzz): FUZZ_SECONDS per harness, from the stored corpus; a crash
# fails the target and leaves its input in build/fuzz/artifacts/<harness>/.
FUZZ_SECONDS ?= 60
fuzz: bootstrap
	.venv/bin/python tests/fuzz/harnesses.py --seconds $(FUZZ_SECONDS)

clean:
	rm -rf build runs
