// metrics.c: log-softmax, KL divergence, cross-entropy and top-k of logit vectors.
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

#include "common.h"

static double log_sum_exp(const float* x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

void log_softmax(double* out, const float* logits, int V) {
    double lse = log_sum_exp(logits, V);
    for (int i = 0; i < V; i++) out[i] = logits[i] - lse;
}

double kl_logits(const float* p_logits, const float* q_logits, int V) {
    double lp = log_sum_exp(p_logits, V), lq = log_sum_exp(q_logits, V), kl = 0;
    for (int i = 0; i < V; i++) {
        double a = p_logits[i] - lp, b = q_logits[i] - lq;
        kl += exp(a) * (a - b);
    }
    return kl > 0 ? kl : 0;  // rounding can leave a tiny negative for identical inputs
}

double cross_entropy(const float* logits, int V, int target) { return log_sum_exp(logits, V) - logits[target]; }

void top_k_clear(int* ids, float* probs, int k) {
    for (int j = 0; j < k; j++) {
        ids[j] = -1;
        probs[j] = -1;
    }
}

// Insertion into a short sorted list: k is small (5 in the trace), V large, and most ids fail the
// first comparison. p is compared in double so a caller with double probabilities sees no rounding
// before the comparison; a float p promoted to double compares exactly as in float.
void top_k_insert(int* ids, float* probs, int k, int id, double p) {
    if (p <= probs[k - 1]) return;
    int j = k - 1;
    while (j > 0 && p > probs[j - 1]) {
        probs[j] = probs[j - 1];
        ids[j] = ids[j - 1];
        j--;
    }
    probs[j] = (float)p;
    ids[j] = id;
}

void top_k_probs(const float* logits, int V, int k, int* ids, float* probs) {
    double lse = log_sum_exp(logits, V);
    top_k_clear(ids, probs, k);
    for (int i = 0; i < V; i++) top_k_insert(ids, probs, k, i, (float)exp(logits[i] - lse));
}
