# `pio test` runner of the QEMU project (test_framework = custom): the on-target program prints
# one line per check on the semihosting console,
#     TINYFL_TEST <name> PASS            or    TINYFL_TEST <name> FAIL <why>
# and then `TINYFL_TESTS <passed> <failed>`; its exit code is main()'s return value.
# A small protocol of our own, so no test framework has to come from the registry.
import re

from platformio.test.result import TestCase, TestStatus
from platformio.test.runners.base import TestRunnerBase

_CASE = re.compile(r"^TINYFL_TEST (?P<name>\S+) (?P<status>PASS|FAIL)(?: (?P<message>.*))?$")
_END = re.compile(r"^TINYFL_TESTS (\d+) (\d+)$")


class CustomTestRunner(TestRunnerBase):
    def on_testing_line_output(self, line):
        line = line.strip()
        if self.options.verbose:
            print(line)
        case = _CASE.match(line)
        if case:
            status = TestStatus.PASSED if case.group("status") == "PASS" else TestStatus.FAILED
            self.test_suite.add_case(
                TestCase(name=case.group("name"), status=status, message=case.group("message"), stdout=line)
            )
            print(line)
        elif _END.match(line):
            print(line)
            self.test_suite.on_finish()
