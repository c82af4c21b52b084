/* A violated invariant in a fuzz harness: one line on stderr, then abort() so libFuzzer keeps
 * the input as a crash. */
#ifndef TINYFL_FUZZ_FAIL_H
#define TINYFL_FUZZ_FAIL_H

#include <stdio.h>
#include <stdlib.h>

#define TINYFL_FUZZ_CHECK(cond, what)                                                   \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "tinyfl fuzz: invariant violated: %s (%s:%d)\n", (what),    \
                    __FILE__, __LINE__);                                                \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#endif /* TINYFL_FUZZ_FAIL_H */
