"""Fine-tuning a task model, as small public steps that `rawtune finetune` runs in order and that
continual learning, hyperparameter trials and few-shot fine-tuning compose and adapt:

    model    the tokenizer, the task model, its vocabulary and the tuning method
    run      the built run (`FineTuning`) -> the run skeleton's `RunSpec`, and `finetune` itself
    reports  the evaluation reports of a finished fine-tuning run
"""
