/* kvs-bench-ocr: the ALPR recognition stage on real plate photos.
 *
 *   kvs-bench-ocr --plates DIR --models DIR [--min-accuracy 0.9] [--runs N]
 *
 * Reads the labels from DIR/MANIFEST.md (or DIR/../MANIFEST.md) (| file | plate text | ...), runs
 * the `alpr` detector (PaddleOCR DB + PP-OCRv4 recogniser, through the normal config and detector
 * path) on every readable photo and prints each read, the exact-match rate and the time per plate.
 * Text is compared as plates are identified: letters and digits, upper case (ABC-123 == ABC123).
 * With
 * --min-accuracy it exits 1 below that rate (the accuracy test). */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "../src/app/app.h"
#include "../src/infer/infer.h"

static kframe *load_jpeg(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    kframe *f = NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
        tjhandle tj = tjInitDecompress();
        int w, h, sub, cs;
        if (tj && tjDecompressHeader3(tj, buf, (unsigned long)n, &w, &h, &sub, &cs) == 0 &&
            (f = frame_new(w, h)) &&
            tjDecompress2(tj, buf, (unsigned long)n, f->rgb, w, f->stride, h, TJPF_RGB, 0) != 0) {
            frame_unref(f);
            f = NULL;
        }
        if (tj) tjDestroy(tj);
    }
    free(buf);
    fclose(fp);
    return f;
}

static void normalise(const char *in, char *out, size_t len)
{
    size_t k = 0;
    for (; *in && k + 1 < len; in++)
        if (isalnum((unsigned char)*in)) out[k++] = (char)toupper((unsigned char)*in);
    out[k] = '\0';
}

int main(int argc, char **argv)
{
    const char *plates = NULL, *models = NULL;
    double min_acc = -1;
    int runs = 1;
    static struct option opts[] = {{"plates", 1, 0, 'p'},
                                   {"models", 1, 0, 'm'},
                                   {"min-accuracy", 1, 0, 'a'},
                                   {"runs", 1, 0, 'r'},
                                   {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 'p')
            plates = optarg;
        else if (c == 'm')
            models = optarg;
        else if (c == 'a')
            min_acc = atof(optarg);
        else if (c == 'r')
            runs = atoi(optarg);
        else
            return 2;
    }
    if (!plates || !models) {
        fprintf(stderr, "usage: kvs-bench-ocr --plates DIR --models DIR [--min-accuracy R]\n");
        return 2;
    }
    log_set_level(LOG_WARN);
    char text[4096];
    snprintf(text, sizeof text,
             "cameras:\n  - name: ocr\n    source: {mode: url, url: x.mp4}\n    detectors:\n"
             "      - type: alpr\n        confidence_threshold: 0\n        params:\n"
             "          det_model: %s/paddleocr/ch_PP-OCRv4_det_infer.onnx\n"
             "          rec_model: %s/paddleocr/ch_PP-OCRv4_rec_infer.onnx\n"
             "          dict: %s/paddleocr/ppocr_keys_v1.txt\n",
             models, models, models);
    cfg_diags d = {0};
    config *cfg = config_load(&app_cfg_readers, "bench-ocr.yaml", text, &d);
    if (!cfg) {
        fprintf(stderr, "kvs-bench-ocr: %s\n", d.n ? d.items[0].msg : "bad config");
        return 2;
    }
    detector_ctx ctx = {.config_file = "bench-ocr.yaml"};
    infer_opts_init(&ctx.infer, "cpu", 2);
    kerr err = {0};
    detector *det = detector_open(&cfg->cams[0].dets[0], &ctx, &err);
    if (!det) {
        fprintf(stderr, "kvs-bench-ocr: %s\n", err.msg);
        return 2;
    }
    char manifest[1024];
    snprintf(manifest, sizeof manifest, "%s/MANIFEST.md", plates);
    FILE *mf = fopen(manifest, "r");
    if (!mf) { /* a media mirror keeps one manifest for every folder */
        snprintf(manifest, sizeof manifest, "%s/../MANIFEST.md", plates);
        mf = fopen(manifest, "r");
    }
    if (!mf) {
        fprintf(stderr, "kvs-bench-ocr: cannot read %s\n", manifest);
        return 2;
    }
    char line[1024];
    int total = 0, exact = 0;
    double secs = 0;
    while (fgets(line, sizeof line, mf)) {
        char file[256], label[128];
        if (sscanf(line, "| %255[^ |] | %127[^|]|", file, label) != 2 || !strstr(file, ".jpg"))
            continue;
        if (label[0] == '(') continue; /* unreadable: not counted */
        char want[64], path[1400];
        normalise(label, want, sizeof want);
        snprintf(path, sizeof path, "%s/%s", plates, file);
        kframe *f = load_jpeg(path);
        if (!f) {
            fprintf(stderr, "kvs-bench-ocr: cannot decode %s\n", path);
            continue;
        }
        det_list out = {0};
        int64_t t0 = clock_mono_ns();
        for (int r = 0; r < runs; r++) {
            out.n = 0;
            if (detector_run(det, f, &out, &err) != KERR_OK) fprintf(stderr, "%s\n", err.msg);
        }
        secs += (double)(clock_mono_ns() - t0) / 1e9 / runs;
        const detection *best = NULL;
        for (int i = 0; i < out.n; i++)
            if (out.v[i].plate.has && (!best || out.v[i].score > best->score)) best = &out.v[i];
        const char *got = best ? best->plate.text : "";
        bool ok = strcmp(got, want) == 0;
        exact += ok;
        total++;
        printf("%-36s want %-8s read %-10s %.2f %s\n", file, want, got, best ? best->score : 0.0,
               ok ? "ok" : "MISS");
        det_list_free(&out);
        frame_unref(f);
    }
    fclose(mf);
    detector_close(det);
    config_free(cfg);
    double acc = total ? (double)exact / total : 0;
    printf("ocr: %d/%d exact (%.1f %%), %.1f ms per plate (DB detection + recognition, %s)\n",
           exact, total, 100 * acc, total ? 1000 * secs / total : 0.0, infer_runtime_version());
    infer_shutdown();
    return min_acc >= 0 && acc < min_acc ? 1 : 0;
}
