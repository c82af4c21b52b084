# The two commands of the README. Both install what they need first (scripts/bootstrap.sh).
.PHONY: demo test bootstrap bench clean

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	.venv/bin/tinyfl demo

test: bootstrap
	.venv/bin/python -m pytest -q

bench: bootstrap
	.venv/bin/python -m bench

clean:
	rm -rf build runs
