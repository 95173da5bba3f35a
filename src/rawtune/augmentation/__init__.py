"""Data augmentation for small labeled sets: masked-LM contextual word replacement (label-preserving:
entity words are never touched), entity swap within type for NER, deterministic per seed.

    plan     the copies of each sentence and the counts of what changed
    mlm      word replacement with a masked LM (batched, whole words, top-k / temperature sampling)
    vocab    which vocabulary entries may replace a word, and case matching
    swap     entity mentions by type, and swapping them
    seeds    a generator per (seed, example, copy)
    formats  reading a file and writing the augmented one in the same format
    training the training split of a fine-tuning run augmented on the fly (`finetune --augment N`)
"""
