/* error.c - text for CP_E* codes. Static tables only: safe anywhere. */
#include "error.h"

const char *cp_strerror(int code)
{
    switch (code) {
    case 0: return "success";
#define CP__ERR_STR(name, val, msg) case (val): return msg;
    CP_ERRORS(CP__ERR_STR)
#undef CP__ERR_STR
    }
    return "unknown error";
}

const char *cp_errname(int code)
{
    switch (code) {
    case 0: return "OK";
#define CP__ERR_NAME(name, val, msg) case (val): return #name;
    CP_ERRORS(CP__ERR_NAME)
#undef CP__ERR_NAME
    }
    return "CP_E?";
}
