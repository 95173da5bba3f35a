"""Few-shot learning: k examples per class drawn from a pool, one run per seed, and the methods that
learn from them.

    protocol    the study: samples per seed (OUTPUT/kshot/), one run per seed, mean and std, --resume
    methods     the registry of methods by name, and whether each trains (checkpoints) or not
    finetune    plain fine-tuning of a head on the sample
    setfit      SetFit-style contrastive training of the encoder, then a logistic-regression head
    pet         PET-style prompt training of a masked LM (template + verbaliser)
    neighbours  training-free few-shot NER: nearest labeled word (nnshot) or type prototype (proto)
    seed_run    what the training methods share: the seed's run, manifest, final scores and reports
"""
