/* libFuzzer target: the YAML config parser and schema (outside data: users'
 * files, ${VAR} values). Any input must give a config or diagnostics, never a
 * crash, leak or undefined behaviour. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/app/app.h"
#include "../../src/config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cfg_diags d = {0};
    config *c = config_load_all(&app_cfg_readers, "fuzz.yaml", text, &d);
    for (size_t i = 0; i < d.n; i++) {
        char line[1024];
        cfg_diag_format(&d.items[i], line, sizeof line);
    }
    config_free(c);
    cfg_diags_free(&d);
    free(text);
    return 0;
}
