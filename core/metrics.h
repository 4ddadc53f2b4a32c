// metrics.h: comparisons between next-token distributions given as logits: log-softmax, KL,
// top-k lists, cross-entropy. Accumulated in double precision.
#ifndef SLIMSCOPE_METRICS_H
#define SLIMSCOPE_METRICS_H

// out (V) = log softmax(logits).
void log_softmax(double* out, const float* logits, int V);
// KL(P || Q) in nats, P = softmax(p_logits), Q = softmax(q_logits).
double kl_logits(const float* p_logits, const float* q_logits, int V);
// -log softmax(logits)[target].
double cross_entropy(const float* logits, int V, int target);
// The k most likely ids (descending; lower id first on ties) and their probabilities.
void top_k_probs(const float* logits, int V, int k, int* ids, float* probs);
// The same list built one candidate at a time: clear (ids -1, probs -1), then insert each (id, p)
// in increasing id order; ties keep the lower id first.
void top_k_clear(int* ids, float* probs, int k);
void top_k_insert(int* ids, float* probs, int k, int id, double p);

#endif
