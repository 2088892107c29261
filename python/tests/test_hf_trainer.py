"""QAT through Hugging Face's own Trainer: the callback, the distillation Trainer, and its checkpoints."""
import copy

import pytest
import torch
from transformers import AutoModelForCausalLM, TrainingArguments

from conftest import tiny_gpt2
from ternary_qat import bitlinear_layers, patch_model
from ternary_qat.hf_trainer import DistillationTrainer, TernaryQATCallback
from ternary_qat.tokenizer_files import load_tokenizer


def windows(shakespeare, tokenizer_dir, length=32, count=320):
    ids = load_tokenizer(tokenizer_dir)(shakespeare.read_text()[:80_000], add_special_tokens=False)["input_ids"]
    rows = [torch.tensor(ids[i * length:(i + 1) * length]) for i in range(count)]
    return [{"input_ids": r, "labels": r.clone()} for r in rows]


def arguments(out, **kw):
    return TrainingArguments(output_dir=str(out), max_steps=20, per_device_train_batch_size=8, learning_rate=3e-3, warmup_steps=2,
                             logging_steps=1, save_steps=20, report_to=[], use_cpu=True, seed=0, disable_tqdm=True, **kw)


def test_twenty_trainer_steps_with_the_callback_and_distillation_lower_the_loss_and_checkpoint_a_loadable_patched_model(
        tmp_path, shakespeare, tokenizer_dir):
    teacher = tiny_gpt2(n_embd=32, n_head=2)
    student = copy.deepcopy(teacher)
    patch_model(student)
    callback = TernaryQATCallback(lambda_warmup_steps=10)
    trainer = DistillationTrainer(model=student, teacher=teacher, args=arguments(tmp_path), callbacks=[callback],
                                  train_dataset=windows(shakespeare, tokenizer_dir))
    trainer.train()
    logs = [r for r in trainer.state.log_history if "loss" in r]
    assert len(logs) == 20
    assert sum(r["loss"] for r in logs[-3:]) / 3 < sum(r["loss"] for r in logs[:3]) / 3 - 0.5
    # λ ramps 0 → 1 over ten steps, then stays; the zero ratio of each layer is logged.
    assert [r["quant_lambda"] for r in logs[:3]] == [0.0, 0.1, 0.2] and all(r["quant_lambda"] == 1.0 for r in logs[10:])
    assert all(0.1 < r["zero_ratio_min"] <= r["zero_ratio"] <= r["zero_ratio_max"] < 0.9 for r in logs)
    assert len(callback.zero_ratio_history) == 20 and len(callback.zero_ratio_history[-1][1]) == 8
    # The Trainer's checkpoint loads back as the same patched model.
    back = AutoModelForCausalLM.from_pretrained(tmp_path / "checkpoint-20").eval()
    assert len(bitlinear_layers(back)) == 8
    ids = torch.randint(0, 50257, (1, 16))
    with torch.no_grad():
        assert torch.equal(back(ids).logits, student.eval()(ids).logits)


def test_the_distillation_term_vanishes_when_the_student_computes_what_the_teacher_does(tmp_path, shakespeare, tokenizer_dir):
    teacher = tiny_gpt2(n_embd=32, n_head=2)
    student = copy.deepcopy(teacher)
    patch_model(student)
    data = windows(shakespeare, tokenizer_dir, count=8)
    trainer = DistillationTrainer(model=student, teacher=teacher, args=arguments(tmp_path), train_dataset=data, kd_weight=5.0)
    batch = {k: torch.stack([d[k] for d in data]) for k in ("input_ids", "labels")}
    for layer in (m for _, m in bitlinear_layers(student)):
        layer.quant_lambda = 0.0  # the latent float weights: the student is the teacher
    ce = student(**batch).loss
    assert torch.allclose(trainer.compute_loss(student, dict(batch)), ce, atol=1e-5)
    for layer in (m for _, m in bitlinear_layers(student)):
        layer.quant_lambda = 1.0
    assert trainer.compute_loss(student, dict(batch)).item() > student(**batch).loss.item() + 1e-3


def test_the_callback_refuses_an_unpatched_model(tmp_path, shakespeare, tokenizer_dir):
    from transformers import Trainer

    trainer = Trainer(model=tiny_gpt2(n_embd=32, n_head=2), args=arguments(tmp_path), train_dataset=windows(shakespeare, tokenizer_dir, count=8),
                      callbacks=[TernaryQATCallback()])
    with pytest.raises(ValueError, match="call ternary_qat.patch_model"):
        trainer.train()
