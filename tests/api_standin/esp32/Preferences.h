// API STAND-IN, not the real header: the part of arduino-esp32's Preferences (NVS) that
// tinyfl's ESP32 glue uses, with the real signatures (libraries/Preferences/src/Preferences.h).
// Compile-only. See tests/api_standin/README.md.
#pragma once

#include <stddef.h>

class Preferences {
  public:
    Preferences();
    ~Preferences();
    bool begin(const char *name, bool readOnly = false, const char *partition_label = NULL);
    void end();
    bool clear();
    bool remove(const char *key);
    bool isKey(const char *key);
    size_t putBytes(const char *key, const void *value, size_t len);
    size_t getBytesLength(const char *key);
    size_t getBytes(const char *key, void *buf, size_t maxLen);
};
