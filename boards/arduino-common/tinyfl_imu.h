/* The on-board (or breakout) IMU through its Arduino library: accelerometer (g) and gyroscope
 * (degrees/s), 6 channels in the order ax ay az gx gy gz. Both libraries map `IMU` to their
 * global sensor object (IMU_LSM9DS1, IMU_BMI270_BMM150), with the same method names (Arduino_LSM9DS1: Nano 33 BLE rev1; Arduino_BMI270_BMM150: rev2
 * and BMI270 breakouts); the build picks one with TINYFL_IMU_LSM9DS1 or TINYFL_IMU_BMI270. */
#ifndef TINYFL_IMU_H
#define TINYFL_IMU_H

#if defined(TINYFL_IMU_LSM9DS1)
#include <Arduino_LSM9DS1.h>
#elif defined(TINYFL_IMU_BMI270)
#include <Arduino_BMI270_BMM150.h>
#else
#error "define TINYFL_IMU_LSM9DS1 or TINYFL_IMU_BMI270 (platformio.ini sets it per env)"
#endif

#define TINYFL_IMU_CHANNELS 6

static inline bool tinyfl_imu_begin(void) { return IMU.begin() == 1; }

/* The newest reading when both sensors have one; false when not both are ready. */
static inline bool tinyfl_imu_read(float out[TINYFL_IMU_CHANNELS])
{
    if (IMU.accelerationAvailable() <= 0 || IMU.gyroscopeAvailable() <= 0) {
        return false;
    }
    return IMU.readAcceleration(out[0], out[1], out[2]) == 1 && IMU.readGyroscope(out[3], out[4], out[5]) == 1;
}

#endif /* TINYFL_IMU_H */
