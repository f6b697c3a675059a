/* embed.c — a C program that embeds opzosim through libopzosim (sim/opzosim.h).
 *
 * It writes a small labelled data set of 6×6 images (two classes: bright top or bright
 * bottom) in IDX format into a temporary folder, loads a scenario from a string — a
 * 36-24-2 LIF network trained by OPZO, with overrides as `opzosim run --set` takes them —,
 * trains it for a few mini-batches one step at a time, and prints the accuracy and SynOps.
 *
 * Build after `meson install` (into PREFIX; PKG_CONFIG_PATH=PREFIX/lib/.../pkgconfig):
 *     cc embed.c $(pkg-config --cflags --libs opzosim) -o embed
 */
#include <opzosim.h>

#include <stdio.h>
#include <string.h>

/* An IDX file: the magic (unsigned bytes, ndims), big-endian dims, then the bytes. */
static gboolean write_idx(const char *path, const unsigned *dims, int ndims,
                          const unsigned char *data, size_t n, GError **error) {
    GByteArray *b = g_byte_array_new();
    unsigned char magic[4] = {0, 0, 8, (unsigned char)ndims};
    g_byte_array_append(b, magic, 4);
    for (int d = 0; d < ndims; d++) {
        unsigned char be[4] = {dims[d] >> 24, dims[d] >> 16 & 255, dims[d] >> 8 & 255,
                               dims[d] & 255};
        g_byte_array_append(b, be, 4);
    }
    g_byte_array_append(b, data, (guint)n);
    gboolean ok = g_file_set_contents(path, (const char *)b->data, b->len, error);
    g_byte_array_unref(b);
    return ok;
}

/* n images of 6×6: class 0 bright on top, class 1 bright at the bottom, with noise. */
static gboolean write_split(const char *dir, const char *split, unsigned n, GError **error) {
    unsigned char *img = g_malloc(n * 36), *lab = g_malloc(n);
    GRand *r = g_rand_new_with_seed(7);
    for (unsigned i = 0; i < n; i++) {
        lab[i] = (unsigned char)(i % 2);
        for (int p = 0; p < 36; p++) {
            gboolean top = p < 18;
            gboolean bright = lab[i] == 0 ? top : !top;
            img[i * 36 + p] = (unsigned char)(bright ? 160 + g_rand_int_range(r, 0, 96)
                                                     : g_rand_int_range(r, 0, 64));
        }
    }
    g_rand_free(r);
    char *ip = g_strdup_printf("%s/%s-images-idx3-ubyte", dir, split);
    char *lp = g_strdup_printf("%s/%s-labels-idx1-ubyte", dir, split);
    unsigned idims[3] = {n, 6, 6}, ldims[1] = {n};
    gboolean ok =
        write_idx(ip, idims, 3, img, n * 36, error) && write_idx(lp, ldims, 1, lab, n, error);
    g_free(ip);
    g_free(lp);
    g_free(img);
    g_free(lab);
    return ok;
}

int main(void) {
    GError *error = NULL;
    char *dir = g_dir_make_tmp("opzosim-embed-XXXXXX", &error);
    if (!dir || !write_split(dir, "train", 256, &error) || !write_split(dir, "t10k", 64, &error)) {
        fprintf(stderr, "embed: %s\n", error->message);
        return 1;
    }
    char *scenario = g_strdup_printf("[run]\nmode = train\nticks = 4\nbatch_size = 32\n"
                                     "threads = 1\n"
                                     "[data]\ndataset = mnist\ndir = %s\nclasses = 2\n"
                                     "[rule]\nname = opzo\n"
                                     "[population in]\nmodel = input\nsize = 36\n"
                                     "[population h]\nmodel = lif\nsize = 24\n"
                                     "[population out]\nmodel = readout\nsize = 2\n"
                                     "[projection in_h]\nfrom = in\nto = h\ninit_scale = 3\n"
                                     "[projection h_out]\nfrom = h\nto = out\n",
                                     dir);
    const char *overrides[] = {"optimizer.lr=1e-2", NULL};
    OzSim *sim = oz_sim_new_from_data(scenario, "embed.ini", overrides, &error);
    g_free(scenario);
    if (!sim) {
        fprintf(stderr, "embed: %s\n", error->message);
        return 1;
    }
    /* A few training batches, one step at a time, then the rest of the plan (the test). */
    for (int b = 0; b < 4; b++) {
        gboolean done = FALSE;
        if (!oz_sim_step(sim, &done, &error)) {
            fprintf(stderr, "embed: %s\n", error->message);
            return 1;
        }
        printf("batch %d: running accuracy %.3f, SynOps so far %" G_GUINT64_FORMAT "\n", b + 1,
               oz_sim_running_accuracy(sim), oz_sim_synops(sim));
    }
    if (!oz_sim_run(sim, &error)) {
        fprintf(stderr, "embed: %s\n", error->message);
        return 1;
    }
    printf("after %" G_GINT64_FORMAT " batches: test accuracy %.3f, SynOps %" G_GUINT64_FORMAT
           ", spikes %" G_GUINT64_FORMAT "\n",
           oz_sim_batches(sim), oz_sim_accuracy(sim), oz_sim_synops(sim), oz_sim_spikes(sim));
    /* The trained network as a checkpoint in a run log, and as a NIR graph. */
    char *db = g_build_filename(dir, "embed.sqlite", NULL);
    char *nir = g_build_filename(dir, "embed.nir", NULL);
    gboolean ok = oz_sim_save_checkpoint(sim, db, NULL, &error) &&
                  oz_sim_export_nir(db, -1, -1, 1e-4, nir, NULL, &error);
    if (!ok) {
        fprintf(stderr, "embed: %s\n", error->message);
        return 1;
    }
    printf("saved %s and exported %s\n", db, nir);
    oz_sim_free(sim);
    g_free(db);
    g_free(nir);
    /* The folder holds the data, the run log and the graph: remove them. */
    GDir *d = g_dir_open(dir, 0, NULL);
    for (const char *name; d && (name = g_dir_read_name(d));) {
        char *path = g_build_filename(dir, name, NULL);
        remove(path);
        g_free(path);
    }
    if (d)
        g_dir_close(d);
    remove(dir);
    g_free(dir);
    return 0;
}
