/* One status enum for the whole runtime; its values are also the wire's error codes, so the
 * enum is generated from tinyfl/wire/spec.py (STATUS) into tinyfl_wire_gen.h. */
#ifndef TINYFL_STATUS_H
#define TINYFL_STATUS_H

#include "generated/tinyfl_wire_gen.h"

/* Short constant name of a status ("CRC", "BUDGET", ...); "UNKNOWN" for other values. */
const char *tinyfl_status_str(tinyfl_status status);

#endif /* TINYFL_STATUS_H */
