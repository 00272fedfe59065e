/* Region presets: the plate formats of a region, so that users pick `region:
 * br` instead of writing regular expressions. Each country's common current
 * formats (letters and digits only; separators are not read). A group ("eu",
 * "us") is the union of its members, so a plate of any of them reads; within
 * a group the more specific formats come first, because the first format that
 * fits without repair wins. Sources: the countries' published registration
 * schemes (as summarised on Wikipedia's "Vehicle registration plates of ..."
 * pages). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ocr.h"

#define END                                                                                        \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }

static const plate_preset br[] = {
    {"BR-Mercosul", "^[A-Z]{3}[0-9][A-Z][0-9]{2}$"},
    {"BR", "^[A-Z]{3}[0-9]{4}$"},
    END,
};

/* The formats most US states issue now, named by their shape. */
static const plate_preset us[] = {
    {"US-LLLNNNN", "^[A-Z]{3}[0-9]{4}$"},      /* NY, PA, TX, GA, MI, OH, NC, VA, AZ, WA */
    {"US-NLLLNNN", "^[0-9][A-Z]{3}[0-9]{3}$"}, /* CA */
    {"US-LLLNNN", "^[A-Z]{3}[0-9]{3}$"},       /* many states' older series */
    {"US-NNNLLL", "^[0-9]{3}[A-Z]{3}$"},       {"US-LLNNNNN", "^[A-Z]{2}[0-9]{5}$"}, /* IL */
    {"US-LNNLLL", "^[A-Z][0-9]{2}[A-Z]{3}$"},                                        /* NJ */
    {"US-NLLNNN", "^[0-9][A-Z]{2}[0-9]{3}$"},                                        /* MA */
    {"US-LLLNLL", "^[A-Z]{3}[0-9][A-Z]{2}$"},                                        /* FL */
    {"US-NNNNLL", "^[0-9]{4}[A-Z]{2}$"},       END,
};

static const plate_preset de[] = {{"DE", "^[A-Z]{1,3}[A-Z]{1,2}[0-9]{1,4}[EH]?$"}, END};
static const plate_preset fr[] = {{"FR", "^[A-Z]{2}[0-9]{3}[A-Z]{2}$"}, END};
static const plate_preset it[] = {{"IT", "^[A-Z]{2}[0-9]{3}[A-Z]{2}$"}, END};
static const plate_preset es[] = {{"ES", "^[0-9]{4}[A-Z]{3}$"}, END};
static const plate_preset pt[] = {{"PT", "^[A-Z]{2}[0-9]{2}[A-Z]{2}$"}, END};
static const plate_preset nl[] = {
    {"NL", "^[A-Z]{2}[0-9]{3}[A-Z]$"},    {"NL", "^[0-9][A-Z]{3}[0-9]{2}$"},
    {"NL", "^[A-Z][0-9]{3}[A-Z]{2}$"},    {"NL", "^[A-Z]{3}[0-9]{2}[A-Z]$"},
    {"NL", "^[0-9][A-Z]{2}[0-9]{3}$"},    {"NL", "^[0-9]{2}[A-Z]{3}[0-9]$"},
    {"NL", "^[A-Z]{2}[0-9]{2}[A-Z]{2}$"}, END,
};
static const plate_preset be[] = {{"BE", "^[0-9][A-Z]{3}[0-9]{3}$"}, END};
static const plate_preset pl[] = {
    {"PL", "^[A-Z]{2}[0-9]{5}$"},
    {"PL", "^[A-Z]{2}[0-9]{4}[A-Z]$"},
    {"PL", "^[A-Z]{3}[0-9]{4}$"},
    {"PL", "^[A-Z]{3}[0-9][A-Z0-9]{3}$"},
    END,
};
static const plate_preset cz[] = {{"CZ", "^[0-9][A-Z][A-Z0-9][0-9]{4}$"}, END};
static const plate_preset sk[] = {{"SK", "^[A-Z]{2}[0-9]{3}[A-Z]{2}$"}, END};
static const plate_preset at[] = {{"AT", "^[A-Z]{1,2}[0-9]{1,5}[A-Z]{1,2}$"}, END};
static const plate_preset hu[] = {{"HU", "^[A-Z]{3}[0-9]{3}$"}, {"HU", "^[A-Z]{4}[0-9]{3}$"}, END};
static const plate_preset ro[] = {{"RO", "^[A-Z]{1,2}[0-9]{2,3}[A-Z]{3}$"}, END};
static const plate_preset se[] = {{"SE", "^[A-Z]{3}[0-9]{2}[A-Z0-9]$"}, END};
static const plate_preset hr[] = {{"HR", "^[A-Z]{2}[0-9]{3,4}[A-Z]{1,2}$"}, END};
static const plate_preset uk[] = {{"UK", "^[A-Z]{2}[0-9]{2}[A-Z]{3}$"}, END};

typedef struct {
    const char *name;
    const plate_preset *members[16];
} region;

/* Groups list their members: the European group holds the larger countries
 * whose formats do not swallow the others' (Austria's open format would read
 * most misreads as Austrian, so it is only in `at`). */
static const region regions[] = {
    {"us", {us}}, {"eu", {uk, es, cz, be, nl, pt, fr, sk, it, hr, pl, hu, se, ro, de}},
    {"br", {br}}, {"de", {de}},
    {"fr", {fr}}, {"it", {it}},
    {"es", {es}}, {"pt", {pt}},
    {"nl", {nl}}, {"be", {be}},
    {"pl", {pl}}, {"cz", {cz}},
    {"sk", {sk}}, {"at", {at}},
    {"hu", {hu}}, {"ro", {ro}},
    {"se", {se}}, {"hr", {hr}},
    {"uk", {uk}},
};

int plate_region(const char *name, plate_preset *out, int max)
{
    for (size_t r = 0; r < sizeof regions / sizeof regions[0]; r++) {
        if (strcmp(regions[r].name, name) != 0) continue;
        int n = 0;
        for (int m = 0; m < 16 && regions[r].members[m]; m++)
            for (const plate_preset *p = regions[r].members[m]; p->name; p++)
                if (n < max) out[n++] = *p;
        return n;
    }
    return -1;
}

/* The United States: each state issues several formats and personalised
 * plates are common, so the presets are the usual shapes, not a rule. */
bool plate_region_open(const char *name)
{
    return strcmp(name, "us") == 0;
}

const char *plate_region_at(int i)
{
    return i >= 0 && (size_t)i < sizeof regions / sizeof regions[0] ? regions[i].name : NULL;
}

/* Built from the table (once; config loading may run on several threads). */
static char g_names[256];
static pthread_once_t g_names_once = PTHREAD_ONCE_INIT;

static void build_names(void)
{
    size_t used = 0;
    for (int i = 0; plate_region_at(i); i++)
        used += (size_t)snprintf(g_names + used, sizeof g_names - used, "%s%s", i ? ", " : "",
                                 plate_region_at(i));
}

const char *plate_region_names(void)
{
    pthread_once(&g_names_once, build_names);
    return g_names;
}
