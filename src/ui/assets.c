/* The page's files, built into the binary (table generated from src/ui/page
 * by cmake/embed_assets.cmake). */
#include <string.h>

#include "ui.h"

extern const ui_asset ui_asset_table[];
extern const size_t ui_asset_count;

const ui_asset *ui_asset_find(const char *path)
{
    if (strcmp(path, "/index.html") == 0) path = "/";
    for (size_t i = 0; i < ui_asset_count; i++)
        if (strcmp(ui_asset_table[i].path, path) == 0) return &ui_asset_table[i];
    return NULL;
}
