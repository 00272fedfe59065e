/* libFuzzer target: event JSON read back by consumers and tools, and the
 * Ultralytics class-names metadata read from model files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/detect/detect.h"
#include "../../src/event/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    event *e = event_from_json(text, NULL);
    if (e) {
        char *again = event_to_json(e);
        free(again);
        event_free(e);
    }
    class_names names;
    if (class_names_from_meta(text, &names, NULL) == KERR_OK) class_names_free(&names);
    free(text);
    return 0;
}
