/* The console's files, compiled into imgarcd (api/console.c serves them).
 *
 * console/build.mjs builds console/src into static files and a manifest;
 * console/embed.mjs turns those into a generated C file defining the table below
 * (built by CMake into the build tree; -DIMGARC_CONSOLE=OFF links an empty table
 * instead). Every entry is constant data: serving it touches no disk. */
#ifndef IMGARC_API_CONSOLE_ASSETS_H
#define IMGARC_API_CONSOLE_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct console_asset {
    const char *path;         /* the URL path: "/" for the page, "/assets/app-<hash>.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* quoted strong ETag, from the content's SHA-256 */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz;  /* the gzip of data, or NULL when it does not pay */
    size_t gz_len;
    bool immutable;           /* a content-hashed name: cached for a year */
};

extern const struct console_asset console_assets[];
extern const size_t console_assets_count;
extern const char console_build[]; /* the build's digest (manifest "build"), "" when OFF */

#endif
