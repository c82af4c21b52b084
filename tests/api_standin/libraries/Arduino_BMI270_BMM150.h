// API STAND-IN, not the real header: the part of Arduino_BMI270_BMM150 1.2.3
// (src/BoschSensorClass.h) that tinyfl's IMU adapter uses, with the real signatures.
// Compile-only. See ../README.md.
#pragma once

#include <Arduino.h>

typedef enum { BOSCH_ACCELEROMETER_ONLY, BOSCH_MAGNETOMETER_ONLY, BOSCH_ACCEL_AND_MAGN } CfgBoshSensor_t;

class BoschSensorClass {
  public:
    ~BoschSensorClass() {}
    int begin(CfgBoshSensor_t cfg = BOSCH_ACCEL_AND_MAGN);
    void end();
    virtual int readAcceleration(float &x, float &y, float &z); // g
    virtual int accelerationAvailable();
    virtual float accelerationSampleRate();
    virtual int readGyroscope(float &x, float &y, float &z); // degrees/second
    virtual int gyroscopeAvailable();
    virtual float gyroscopeSampleRate();
};

// 1.2.3 names the global IMU_BMI270_BMM150 and maps IMU to it.
extern BoschSensorClass IMU_BMI270_BMM150;
#undef IMU
#define IMU IMU_BMI270_BMM150
