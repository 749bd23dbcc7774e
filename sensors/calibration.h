/* selgw: a device's correction of a field's value, applied after the profile's scale and
 * offset. A header of its own so that the config, which stores one per calibrated field,
 * needs none of the decoder's declarations. */
#ifndef SELGW_CALIBRATION_H
#define SELGW_CALIBRATION_H

/* value = (raw * field.scale + field.offset) * cal.scale + cal.offset. */
typedef struct selgw_calibration {
    double scale;  /* 1 for none */
    double offset; /* 0 for none */
} selgw_calibration;

#endif
