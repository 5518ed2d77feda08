#include "clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void clock_format_rfc3339(uint64_t ms, char *buf, unsigned long size)
{
    time_t secs = (time_t)(ms / 1000u);
    struct tm tm;
    char date[24];
    gmtime_r(&secs, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%03uZ", date, (unsigned)(ms % 1000u));
}

/* Reads exactly @n digits; -1 when they are not all digits. */
static int digits(const char **s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9') {
            return -1;
        }
        v = v * 10 + (**s - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool valid_date(int y, int mo, int d, int h, int mi, int sec)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 1970 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] &&
           !(mo == 2 && d == 29 && !leap) && h <= 23 && mi <= 59 && sec <= 60;
}

int64_t clock_parse_rfc3339(const char *s)
{
    int y, mo, d, h, mi, sec, ms = 0, off = 0;
    int64_t t;
    if ((y = digits(&s, 4)) < 0 || *s++ != '-' || (mo = digits(&s, 2)) < 0 || *s++ != '-' ||
        (d = digits(&s, 2)) < 0 || (*s != 'T' && *s != 't' && *s != ' ') || !*s++ ||
        (h = digits(&s, 2)) < 0 || *s++ != ':' || (mi = digits(&s, 2)) < 0 || *s++ != ':' ||
        (sec = digits(&s, 2)) < 0 || !valid_date(y, mo, d, h, mi, sec)) {
        return -1;
    }
    if (*s == '.') {
        int scale = 100;
        s++;
        if (*s < '0' || *s > '9') {
            return -1;
        }
        for (; *s >= '0' && *s <= '9'; s++, scale /= 10) {
            ms += (*s - '0') * scale;
        }
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1;
        int oh = digits(&s, 2), om;
        if (oh < 0 || *s++ != ':' || (om = digits(&s, 2)) < 0 || oh > 23 || om > 59) {
            return -1;
        }
        off = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*s != '\0') {
        return -1;
    }
    t = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * 60 + sec;
    /* A leap second or an offset may carry a time past 9999-12-31T23:59:59Z, which
     * clock_format_rfc3339() cannot write back with four year digits. */
    if (t < 0 || t >= days_from_civil(10000, 1, 1) * 86400) {
        return -1;
    }
    return t * 1000 + ms;
}
