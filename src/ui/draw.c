/* Boxes and labels on the camera wall's frames. No packaged C library draws
 * text into a raw RGB buffer without pulling in a toolkit, so this is a
 * 5x7 bitmap font of the characters labels use (letters shown in capitals,
 * digits, a few signs), each glyph written out row by row. */
#include <ctype.h>
#include <string.h>

#include "ui.h"

typedef struct {
    char c;
    const char *rows; /* 7 rows of 5: '#' on */
} glyph;

static const glyph k_font[] = {
    {'A', ".###.#...##...#######...##...##...#"}, {'B', "####.#...##...#####.#...##...#####."},
    {'C', ".###.#...##....#....#....#...#.###."}, {'D', "####.#...##...##...##...##...#####."},
    {'E', "######....#....####.#....#....#####"}, {'F', "######....#....####.#....#....#...."},
    {'G', ".###.#...##....#.####...##...#.####"}, {'H', "#...##...##...#######...##...##...#"},
    {'I', ".###...#....#....#....#....#...###."}, {'J', "..###...#....#....#....##..#..##..."},
    {'K', "#...##..#.#.#..##...#.#..#..#.#...#"}, {'L', "#....#....#....#....#....#....#####"},
    {'M', "#...###.###.#.##...##...##...##...#"}, {'N', "#...##...###..##.#.##..###...##...#"},
    {'O', ".###.#...##...##...##...##...#.###."}, {'P', "####.#...##...#####.#....#....#...."},
    {'Q', ".###.#...##...##...##.#.##..#..##.#"}, {'R', "####.#...##...#####.#.#..#..#.#...#"},
    {'S', ".#####....#.....###.....#....#####."}, {'T', "#####..#....#....#....#....#....#.."},
    {'U', "#...##...##...##...##...##...#.###."}, {'V', "#...##...##...##...##...#.#.#...#.."},
    {'W', "#...##...##...##.#.##.#.##.#.#.#.#."}, {'X', "#...##...#.#.#...#...#.#.#...##...#"},
    {'Y', "#...##...#.#.#...#....#....#....#.."}, {'Z', "#####....#...#...#...#...#....#####"},
    {'0', ".###.#...##..###.#.###..##...#.###."}, {'1', "..#...##....#....#....#....#...###."},
    {'2', ".###.#...#....#...#...#...#...#####"}, {'3', "#####...#...#.....#.....##...#.###."},
    {'4', "...#...##..#.#.#..#.#####...#....#."}, {'5', "######....####.....#....##...#.###."},
    {'6', "..##..#...#....####.#...##...#.###."}, {'7', "#####....#...#...#...#....#....#..."},
    {'8', ".###.#...##...#.###.#...##...#.###."}, {'9', ".###.#...##...#.####....#...#..##.."},
    {' ', "..................................."}, {'.', "..............................##..."},
    {'-', "...............###................."}, {'_', "..............................#####"},
    {':', "......##...##........##...##......."}, {'%', "##...##..#...#...#...#...#..##...##"},
    {'(', "...#...#...#....#....#.....#.....#."}, {')', ".#.....#.....#....#....#...#...#..."},
    {'/', ".........#...#...#...#...#........."}, {'#', ".#.#..#.#######.#.#######.#.#..#.#."},
    {'+', ".......#....#..#####..#....#......."}, {',', ".....................##....#...#..."},
};

static const char *rows_of(char c)
{
    c = (char)toupper((unsigned char)c);
    for (size_t i = 0; i < sizeof k_font / sizeof k_font[0]; i++)
        if (k_font[i].c == c) return k_font[i].rows;
    return "#####"
           "#...#"
           "#...#"
           "#...#"
           "#...#"
           "#...#"
           "#####"; /* unknown: a box */
}

static void put(uint8_t *img, int w, int h, int stride, int x, int y, const uint8_t rgb[3])
{
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    memcpy(img + (size_t)y * (size_t)stride + (size_t)x * 3, rgb, 3);
}

static void fill(uint8_t *img, int w, int h, int stride, int x0, int y0, int x1, int y1,
                 const uint8_t rgb[3])
{
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < w; x++)
            put(img, w, h, stride, x, y, rgb);
}

void ui_draw_text(uint8_t *img, int w, int h, int stride, int x, int y, const char *text,
                  const uint8_t rgb[3], int scale)
{
    static const uint8_t band[3] = {16, 16, 16};
    int n = (int)strlen(text);
    fill(img, w, h, stride, x, y, x + (n * 6 + 1) * scale, y + 9 * scale, band);
    for (int i = 0; i < n; i++) {
        const char *g = rows_of(text[i]);
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++)
                if (g[r * 5 + col] == '#')
                    fill(img, w, h, stride, x + (1 + i * 6 + col) * scale, y + (1 + r) * scale,
                         x + (2 + i * 6 + col) * scale, y + (2 + r) * scale, rgb);
    }
}

void ui_draw_box(uint8_t *img, int w, int h, int stride, const ui_box *b)
{
    int x1 = (int)b->x1, y1 = (int)b->y1, x2 = (int)b->x2, y2 = (int)b->y2;
    int t = w >= 640 ? 2 : 1; /* line width */
    fill(img, w, h, stride, x1, y1, x2, y1 + t, b->rgb);
    fill(img, w, h, stride, x1, y2 - t, x2, y2, b->rgb);
    fill(img, w, h, stride, x1, y1, x1 + t, y2, b->rgb);
    fill(img, w, h, stride, x2 - t, y1, x2, y2, b->rgb);
    if (!b->text[0]) return;
    int scale = w >= 640 ? 2 : 1, th = 9 * scale;
    ui_draw_text(img, w, h, stride, x1, y1 >= th ? y1 - th : y1, b->text, b->rgb, scale);
}

void ui_label_colour(const char *label, uint8_t rgb[3])
{
    static const uint8_t palette[][3] = {{255, 64, 64}, {64, 220, 64},  {64, 160, 255},
                                         {255, 200, 0}, {255, 64, 255}, {0, 230, 230},
                                         {255, 140, 0}, {180, 120, 255}};
    unsigned hash = 5381;
    for (const char *p = label; *p; p++)
        hash = hash * 33 + (unsigned char)*p;
    memcpy(rgb, palette[hash % (sizeof palette / sizeof palette[0])], 3);
}
