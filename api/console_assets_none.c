/* The console's table in a node built with -DIMGARC_CONSOLE=OFF: empty, so / answers
 * 404 saying so (api/console.c). */
#include "api/console_assets.h"

const struct console_asset console_assets[1] = {{0}};
const size_t console_assets_count = 0;
const char console_build[] = "";
