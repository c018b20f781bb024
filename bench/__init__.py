"""graphc's benchmark suite: ``python -m bench [--quick] [--only NAME]`` writes bench/RESULTS.md.

Sections: check (cold CLI latency), scaling (compile time vs. model size), codegen
(generated vs. hand-written forward+backward), training (generated training script vs.
a hand-written loop) and gpu (codegen and training on CUDA, when there is one).
Every comparison is timed in the same run, interleaved, and reported as medians and ratios.
"""
