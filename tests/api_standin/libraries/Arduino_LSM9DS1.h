// API STAND-IN, not the real header: the part of Arduino_LSM9DS1 1.1.1 (src/LSM9DS1.h) that
// tinyfl's IMU adapter uses, with the real signatures. Compile-only. See ../README.md.
#pragma once

#include <Arduino.h>

class LSM9DS1Class {
  public:
    virtual ~LSM9DS1Class();
    int begin();
    void end();
    virtual int readAcceleration(float &x, float &y, float &z); // g
    virtual int accelerationAvailable();
    virtual float accelerationSampleRate();
    virtual int readGyroscope(float &x, float &y, float &z); // degrees/second
    virtual int gyroscopeAvailable();
    virtual float gyroscopeSampleRate();
};

// 1.1.1 names the global IMU_LSM9DS1 and maps IMU to it.
extern LSM9DS1Class IMU_LSM9DS1;
#undef IMU
#define IMU IMU_LSM9DS1
