#include <string.h>

#include "cli/cli.h"

const char *cli_extra_usage(void)
{
    return "";
}

int cli_dispatch(struct gss_config *cfg, int argc, char **argv, int *handled)
{
    (void)cfg;
    (void)argc;
    (void)argv;
    *handled = 0;
    return 2;
}
