/* API STAND-IN, not the real header: the nRF52840 registers tinyfl's Nano 33 BLE glue uses, as
 * the nRF MDK's nrf52840.h names them (NRF_RNG_Type, NRF_FICR_Type), at the addresses and
 * offsets of the nRF52840 Product Specification. Compile-only. See tests/api_standin/README.md. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#if defined(TINYFL_STANDIN_HOST_REGISTERS) && defined(__cplusplus)
/* Host runs of the glue: a task register triggers its task when written, as on the chip (a
 * plain variable could not tell START-after-STOP from STOP-after-START). The test's fake
 * peripheral defines what a write does. */
struct tinyfl_standin_task {
    uint32_t written;
    void operator=(uint32_t value);
};
#define TINYFL_STANDIN_TASK tinyfl_standin_task
#else
#define TINYFL_STANDIN_TASK volatile uint32_t
#endif

typedef struct {
    TINYFL_STANDIN_TASK TASKS_START; /* 0x000 */
    TINYFL_STANDIN_TASK TASKS_STOP;  /* 0x004 */
    volatile const uint32_t RESERVED[62];
    volatile uint32_t EVENTS_VALRDY; /* 0x100 */
    volatile const uint32_t RESERVED1[63];
    volatile uint32_t SHORTS;        /* 0x200 */
    volatile const uint32_t RESERVED2[64];
    volatile uint32_t INTENSET;      /* 0x304 */
    volatile uint32_t INTENCLR;      /* 0x308 */
    volatile const uint32_t RESERVED3[126];
    volatile uint32_t CONFIG;        /* 0x504 */
    volatile const uint32_t VALUE;   /* 0x508 */
} NRF_RNG_Type;

typedef struct {
    volatile const uint32_t RESERVED[4];
    volatile const uint32_t CODEPAGESIZE; /* 0x010 */
    volatile const uint32_t CODESIZE;     /* 0x014 */
    volatile const uint32_t RESERVED1[18];
    volatile const uint32_t DEVICEID[2];  /* 0x060 */
} NRF_FICR_Type;

#ifdef __cplusplus
static_assert(offsetof(NRF_RNG_Type, TASKS_STOP) == 0x004, "RNG TASKS_STOP offset");
static_assert(offsetof(NRF_RNG_Type, EVENTS_VALRDY) == 0x100, "RNG EVENTS_VALRDY offset");
static_assert(offsetof(NRF_RNG_Type, CONFIG) == 0x504, "RNG CONFIG offset");
static_assert(offsetof(NRF_RNG_Type, VALUE) == 0x508, "RNG VALUE offset");
static_assert(offsetof(NRF_FICR_Type, DEVICEID) == 0x060, "FICR DEVICEID offset");
#endif

#ifdef TINYFL_STANDIN_HOST_REGISTERS
/* Host runs of the glue (tests/c/nano33ble_glue_host.cpp): the registers are the test's. */
extern NRF_FICR_Type tinyfl_standin_ficr;
extern NRF_RNG_Type tinyfl_standin_rng;
#define NRF_FICR (&tinyfl_standin_ficr)
#define NRF_RNG (&tinyfl_standin_rng)
#else
#define NRF_FICR_BASE 0x10000000UL
#define NRF_RNG_BASE 0x4000D000UL
#define NRF_FICR ((NRF_FICR_Type *)NRF_FICR_BASE)
#define NRF_RNG ((NRF_RNG_Type *)NRF_RNG_BASE)
#endif

#define RNG_CONFIG_DERCEN_Pos (0UL)
#define RNG_CONFIG_DERCEN_Msk (0x1UL << RNG_CONFIG_DERCEN_Pos)
#define RNG_VALUE_VALUE_Pos (0UL)
#define RNG_VALUE_VALUE_Msk (0xFFUL << RNG_VALUE_VALUE_Pos)
