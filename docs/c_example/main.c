/* The README's C example: one row through an export of fixtures/models/classic.skops,
 *   mlpexport convert fixtures/models/classic.skops --to c --name classic -o .
 *   cc -std=c99 -O2 -o main main.c classic.c -lm && ./main          */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "classic.h"

int main(int argc, char **argv)
{
    classic_real x[classic_N_FEATURES];  /* one row; pass n_rows x N_FEATURES for more */
    classic_real y[classic_N_OUTPUTS];   /* classic_real: double here, float with --dtype float32 */
    size_t j;

    for (j = 0; j < classic_N_FEATURES; ++j) x[j] = 0.5;
    if (argc > 1 && strcmp(argv[1], "nan") == 0) x[0] = NAN;

    if (classic_predict(x, 1, y) == classic_ERR_NONFINITE) {
        fprintf(stderr, "an input is NaN or infinite; y was not written\n");
        return 1;
    }
    printf("predict = %.17g\n", (double)y[0]);
    return 0;
}
