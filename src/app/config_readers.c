/* The app wires the registries' config readers into config/ (which calls
 * nothing above itself). */
#include "app.h"

const cfg_readers app_cfg_readers = {
    .source = cfg_source_read,
    .publishers = cfg_publishers_read,
};
