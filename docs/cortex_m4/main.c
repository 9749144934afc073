/* The Cortex-M4 worked example: one row through a float32 export of
 * fixtures/models/classic.skops on QEMU's mps2-an386 board (README, "C on a microcontroller").
 *   mlpexport convert fixtures/models/classic.skops --to c --dtype float32 --name classic -o .
 *   arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -O2 \
 *       --specs=rdimon.specs -nostartfiles -T mps2_an386.ld startup.c main.c classic.c -lm -o classic.elf
 *   qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
 *       -semihosting-config enable=on,target=native -kernel classic.elf          */
#include <stdio.h>

#include "classic.h"

int main(void)
{
    classic_real x[classic_N_FEATURES];  /* one row; pass n_rows x N_FEATURES for more */
    classic_real y[classic_N_OUTPUTS];
    size_t j;

    for (j = 0; j < classic_N_FEATURES; ++j) x[j] = 0.5f;
    if (classic_predict(x, 1, y) == classic_ERR_NONFINITE) return 1;
    printf("predict = %.9g\n", (double)y[0]);  /* the printing, not the model, uses double */
    printf("weights %d B flash, stack %d B, %d multiply-adds per row\n",
           classic_WEIGHT_BYTES, classic_STACK_BYTES, classic_MACS);
    return 0;
}
