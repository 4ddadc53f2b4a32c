// test_train_cli.c: the training commands end to end through the binary ($SLIMSCOPE_BIN or
// ./slimscope): pretrain a tiny byte-level model, resume it from a checkpoint (identical log and
// weights), fine-tune LoRA and SLIM adapters on a toy task, evaluate perplexity and exact match,
// and the one-line errors for bad JSONL. Skipped when the binary lacks the commands.
#include <sys/stat.h>

#include "common.h"
#include "testutil.h"

static const char* bin(void) {
    const char* b = getenv("SLIMSCOPE_BIN");
    return b ? b : "./slimscope";
}

static char g_dir[64];
static char g_out[1 << 16];

static int run(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char* fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = test_run(cmd, g_out, sizeof g_out);
    return rc;
}

static void write_file(const char* name, const char* text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    test_write_file(path, text);
}

static int setup(void** state) {
    if (access(bin(), X_OK) != 0) return 0;
    test_tmpdir(g_dir);
    char path[256];
    snprintf(path, sizeof path, "%s/tok", g_dir);
    mkdir(path, 0755);
    test_write_byte_tokenizer(path);
    write_file("model.json", "{\"model_type\": \"llama\", \"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2,"
                             " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 257,"
                             " \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,"
                             " \"tie_word_embeddings\": true}\n");
    // a small corpus: repeated sentences in documents
    char* text = malloc(1 << 16);
    text[0] = 0;
    // every character of the toy task below occurs in the corpus, so the frozen embeddings know them
    const char* s[] = {"the cat sat on the mat. ", "a dog ran in the park. ", "we like to read books. ",
                       "map the letters a b c d e f g h i j = ok. "};
    for (int d = 0; d < 60; d++) {
        for (int k = 0; k < 4; k++) strcat(text, s[(d + k) % 4]);
        strcat(text, "\n<|endoftext|>\n");
    }
    write_file("corpus.txt", text);
    // the toy task: a letter -> the letter three places on
    text[0] = 0;
    const char* L = "abcdefghij";
    for (int i = 0; i < 200; i++) {
        char line[128];
        int c = (i * 7) % 10;
        snprintf(line, sizeof line, "{\"prompt\": \"map %c =\", \"response\": \" %c\", \"task\": \"map\"}\n", L[c], L[(c + 3) % 10]);
        strcat(text, line);
    }
    write_file("task.jsonl", text);
    text[0] = 0;
    for (int c = 0; c < 10; c++) {
        char line[128];
        snprintf(line, sizeof line, "{\"prompt\": \"map %c =\", \"response\": \" %c\", \"task\": \"map\"}\n", L[c], L[(c + 3) % 10]);
        strcat(text, line);
    }
    write_file("task_test.jsonl", text);
    free(text);
    return 0;
}

static int teardown(void** state) {
    if (g_dir[0] && !getenv("KEEP")) test_rmrf(g_dir);
    return 0;
}

static int available(void) {
    if (access(bin(), X_OK) != 0) return 0;
    return run("%s pretrain --help", bin()) == 0 && run("%s train --help", bin()) == 0 && run("%s eval --help", bin()) == 0;
}

static char* slurp(const char* name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    char* buf = calloc(1 << 20, 1);
    fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    return buf;
}

static void test_pretrain_resume_generate(void** state) {
    if (!available()) skip();
    const char* common = "pretrain --config %s/model.json --tokenizer %s/tok --data %s/corpus.txt --val-frac 0.1 --steps 40 "
                         "--batch 4 --seq-len 32 --warmup 5 --lr 5e-3 --eval-every 10 --threads 2 --ckpt-every 20";
    char args[1024];
    snprintf(args, sizeof args, common, g_dir, g_dir, g_dir);
    int rc = run("%s %s --out %s/m1 --log %s/m1.csv", bin(), args, g_dir, g_dir);
    if (rc) fail_msg("pretrain failed (%d): %s", rc, g_out);
    assert_non_null(strstr(g_out, "wrote"));
    char path[256];
    const char* files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "checkpoint/checkpoint.bin"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/m1/%s", g_dir, files[i]);
        if (!file_exists(path)) fail_msg("missing %s", path);
    }
    // the log: header, 40 rows, loss falling, validation losses every 10 steps
    char* csv = slurp("m1.csv");
    assert_non_null(csv);
    assert_true(strncmp(csv, "step,loss,lr,tokens_per_s,val_loss\n", 35) == 0);
    int rows = 0, vals = 0;
    double first = 0, last = 0;
    for (char* line = strtok(csv + 35, "\n"); line; line = strtok(NULL, "\n")) {
        int s;
        double loss;
        if (sscanf(line, "%d,%lf", &s, &loss) != 2) fail_msg("bad csv row '%s'", line);
        rows++;
        if (rows == 1) first = loss;
        last = loss;
        vals += line[strlen(line) - 1] != ',';
    }
    free(csv);
    assert_int_equal(rows, 40);
    assert_int_equal(vals, 4);
    assert_true(last < first - 1.0);
    // resume from the step-20 checkpoint into another directory: the same log and the same weights
    snprintf(path, sizeof path, "%s/m1.csv", g_dir);
    rc = run("cp %s %s/m2.csv && %s %s --out %s/m2 --log %s/m2.csv --resume %s/m1", path, g_dir, bin(), args, g_dir, g_dir, g_dir);
    if (rc) fail_msg("resume failed (%d): %s", rc, g_out);
    assert_non_null(strstr(g_out, "resuming"));
    char *a = slurp("m1.csv"), *b = slurp("m2.csv");
    // tokens_per_s differs; compare step, loss, lr and val_loss
    for (char *pa = a, *pb = b; *pa || *pb;) {
        char la[256] = "", lb[256] = "";
        sscanf(pa, "%255[^\n]", la);
        sscanf(pb, "%255[^\n]", lb);
        char *ca = strrchr(la, ','), *cb = strrchr(lb, ',');
        char *ta = la, *tb = lb;
        for (int k = 0; k < 3 && ta; k++) ta = strchr(ta + 1, ',');
        for (int k = 0; k < 3 && tb; k++) tb = strchr(tb + 1, ',');
        if (!ta || !tb || (size_t)(ta - la) != (size_t)(tb - lb) || strncmp(la, lb, ta - la) || strcmp(ca, cb))
            fail_msg("resumed log differs: '%s' vs '%s'", la, lb);
        pa += strlen(la) + (pa[strlen(la)] == '\n');
        pb += strlen(lb) + (pb[strlen(lb)] == '\n');
    }
    free(a), free(b);
    rc = run("cmp %s/m1/model.safetensors %s/m2/model.safetensors", g_dir, g_dir);
    assert_int_equal(rc, 0);
    // the model loads and generates, and eval reports a perplexity line
    rc = run("%s eval --model %s/m1 --data %s/corpus.txt --metric ppl --seq-len 32", bin(), g_dir, g_dir);
    if (rc) fail_msg("eval failed: %s", g_out);
    double ppl;
    char* m = strstr(g_out, "metric=ppl value=");
    assert_non_null(m);
    sscanf(m, "metric=ppl value=%lf", &ppl);
    assert_true(ppl > 1.0 && ppl < 20.0);  // far below the 257 of a uniform guess
    rc = run("%s generate --model %s/m1 --prompt 'the cat' -n 10", bin(), g_dir);
    if (rc) fail_msg("generate failed: %s", g_out);
}

static void test_adapters_and_eval(void** state) {
    if (!available()) skip();
    char model[256];
    snprintf(model, sizeof model, "%s/m1", g_dir);
    if (!file_exists(model)) skip();
    int rc = run("%s eval --model %s --data %s/task_test.jsonl --metric exact", bin(), model, g_dir);
    if (rc) fail_msg("eval failed: %s", g_out);
    double base;
    assert_non_null(strstr(g_out, "metric=exact value="));
    sscanf(strstr(g_out, "metric=exact value="), "metric=exact value=%lf", &base);
    // learning itself is tested in test_train.c (a toy task to > 90%); here: the commands run,
    // the loss falls, the adapter directory loads, and eval reports what it should
    const char* methods[] = {"lora --targets q,k,v,o,gate,up,down --r 8 --lora-alpha 16", "slim --r 4 --lora-alpha 8 --experts 4",
                             "moelora --r 4 --lora-alpha 8 --experts 4"};
    for (int k = 0; k < 3; k++) {
        rc = run("%s train --model %s --data %s/task.jsonl --method %s --out %s/a%d --steps 60 --batch 16 --seq-len 16 "
                 "--lr 1e-2 --threads 2 --log %s/a%d.csv",
                 bin(), model, g_dir, methods[k], g_dir, k, g_dir, k);
        if (rc) fail_msg("train %s failed: %s", methods[k], g_out);
        char path[256];
        snprintf(path, sizeof path, "a%d.csv", k);
        char* csv = slurp(path);
        double first = 0, last = 0, loss;
        int s;
        for (char* line = strtok(csv, "\n"); line; line = strtok(NULL, "\n"))
            if (sscanf(line, "%d,%lf", &s, &loss) == 2) {
                if (s <= 10) first += loss / 10;  // mean of the first and of the last ten steps
                if (s > 50) last += loss / 10;
            }
        free(csv);
        print_message("  %s: loss %.3f -> %.3f\n", methods[k], first, last);
        assert_true(last < first - 0.1);
        snprintf(path, sizeof path, "%s/a%d/adapter_model.safetensors", g_dir, k);
        assert_true(file_exists(path));
        rc = run("%s eval --model %s --adapter %s/a%d --data %s/task_test.jsonl --metric exact", bin(), model, g_dir, k, g_dir);
        if (rc) fail_msg("eval failed: %s", g_out);
        double acc = -1;
        int correct = -1, total = -1;
        sscanf(strstr(g_out, "metric=exact value="), "metric=exact value=%lf correct=%d total=%d", &acc, &correct, &total);
        assert_int_equal(total, 10);
        assert_true(fabs(acc - correct / 10.0) < 1e-9);
        assert_non_null(strstr(g_out, "metric=exact task=map"));
        // the adapter switched off gives the base model's answers
        rc = run("%s eval --model %s --adapter %s/a%d --adapter-mode off --data %s/task_test.jsonl --metric exact", bin(), model,
                 g_dir, k, g_dir);
        double off;
        sscanf(strstr(g_out, "metric=exact value="), "metric=exact value=%lf", &off);
        assert_true(off == base);
        rc = run("%s eval --model %s --adapter %s/a%d --mask-ratio 0.5 --data %s/task.jsonl --metric ppl --limit 20", bin(), model,
                 g_dir, k, g_dir);
        if (rc) fail_msg("eval ppl with masking failed: %s", g_out);
        assert_non_null(strstr(g_out, "metric=ppl value="));
    }
}

static void test_bad_lines(void** state) {
    if (!available()) skip();
    char model[256];
    snprintf(model, sizeof model, "%s/m1", g_dir);
    if (!file_exists(model)) skip();
    write_file("bad.jsonl", "{\"prompt\": \"map a =\", \"response\": \" d\"}\n{\"prompt\": \"x\"}\n{\"prompt\": \"map b =\", \"response\": \" e\"}\n");
    int rc = run("%s train --model %s --data %s/bad.jsonl --method lora --out %s/bad --steps 2 --batch 2", bin(), model, g_dir, g_dir);
    if (rc != 1 || !strstr(g_out, "bad.jsonl:2:")) fail_msg("want exit 1 naming bad.jsonl:2, got %d: %s", rc, g_out);
    rc = run("%s train --model %s --data %s/bad.jsonl --method lora --out %s/bad --steps 2 --batch 2 --skip-bad-lines", bin(),
             model, g_dir, g_dir);
    if (rc) fail_msg("--skip-bad-lines failed: %s", g_out);
    assert_non_null(strstr(g_out, "bad.jsonl:2:"));  // still reported, as a warning
    rc = run("%s train --model %s --data %s/task.jsonl --method nope --out %s/x", bin(), model, g_dir, g_dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(g_out, "--method"));
}

// The pid of a process that has exited (a shell that printed its own pid).
static long dead_pid(void) {
    char out[64];
    if (test_run("sh -c 'echo $$'", out, sizeof out) != 0) fail_msg("sh failed");
    return atol(out);
}

static int exists_in(const char* dir, const char* name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", g_dir, dir, name);
    return access(path, F_OK) == 0;
}

// kill -9 while a checkpoint or the adapter is written leaves NAME.tmp.PID behind: the next start of
// the run removes those whose process is gone (and only those). A final adapter write that fails
// (here: a directory where adapter_model.safetensors goes) leaves no adapter_config.json without
// weights, and the error says where --resume continues; the resumed run then finishes.
static void test_stale_tmp_and_failed_write(void** state) {
    if (!available()) skip();
    char model[256];
    snprintf(model, sizeof model, "%s/m1", g_dir);
    if (!file_exists(model)) skip();
    long dead = dead_pid(), alive = (long)getpid();
    char name[128];
    assert_int_equal(run("mkdir -p %s/st/checkpoint %s/st/adapter_model.safetensors/x", g_dir, g_dir), 0);
    const char* stale[2] = {"checkpoint/checkpoint.bin", "adapter_model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "st/%s.tmp.%ld", stale[i], dead);
        write_file(name, "half a file");
    }
    snprintf(name, sizeof name, "st/checkpoint/checkpoint.bin.tmp.%ld", alive);
    write_file(name, "another run's file");
    write_file("st/notes.tmp.txt", "not a temporary file of ours");
    write_file("st/adapter_config.json", "{\"an older\": \"config\"}");
    const char* args = "train --model %s --data %s/task.jsonl --method lora --r 2 --out %s/%s --steps 4 --batch 2 "
                       "--seq-len 16 --threads 1";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, args, model, g_dir, g_dir, "st");
    int rc = run("%s %s --ckpt-every 2", bin(), cmd);
    if (rc != 1) fail_msg("want exit 1 (adapter write blocked), got %d: %s", rc, g_out);
    char want[512];
    snprintf(want, sizeof want, "removed 2 temporary files left in %s/st by a run that was killed while writing", g_dir);
    if (!strstr(g_out, want)) fail_msg("no \"%s\" in: %s", want, g_out);
    snprintf(want, sizeof want, "the adapter was not written: `--resume %s/st` continues from the checkpoint of step 2 (%s/st/checkpoint/checkpoint.bin)",
             g_dir, g_dir);
    if (!strstr(g_out, want)) fail_msg("no \"%s\" in: %s", want, g_out);
    assert_non_null(strstr(g_out, "adapter_model.safetensors: cannot rename into place"));
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s.tmp.%ld", stale[i], dead);
        if (exists_in("st", name)) fail_msg("stale %s was not removed", name);
    }
    snprintf(name, sizeof name, "checkpoint/checkpoint.bin.tmp.%ld", alive);
    assert_true(exists_in("st", name));  // its process lives: not ours to remove
    assert_true(exists_in("st", "notes.tmp.txt"));
    assert_false(exists_in("st", "adapter_config.json"));  // the older one went with the failed write
    assert_int_equal(run("ls %s/st | grep -c 'tmp\\.[0-9]'", g_dir), 1);  // nothing of this run left behind
    // unblocked, --resume finishes the run: config and weights both there
    assert_int_equal(run("rm -rf %s/st/adapter_model.safetensors", g_dir), 0);
    rc = run("%s %s --ckpt-every 2 --resume %s/st", bin(), cmd, g_dir);
    if (rc) fail_msg("resume failed (%d): %s", rc, g_out);
    assert_true(exists_in("st", "adapter_config.json") && exists_in("st", "adapter_model.safetensors"));
    // without checkpoints the error says there is none
    assert_int_equal(run("mkdir -p %s/st2/adapter_model.safetensors/x", g_dir), 0);
    snprintf(cmd, sizeof cmd, args, model, g_dir, g_dir, "st2");
    rc = run("%s %s", bin(), cmd);
    if (rc != 1 || !strstr(g_out, "the adapter was not written and no checkpoint exists (--ckpt-every N writes them)"))
        fail_msg("want exit 1 saying no checkpoint exists, got %d: %s", rc, g_out);
    assert_false(exists_in("st2", "adapter_config.json"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pretrain_resume_generate),
        cmocka_unit_test(test_adapters_and_eval),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_stale_tmp_and_failed_write),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
