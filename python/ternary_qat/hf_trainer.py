"""QAT inside a user's own Hugging Face training script: patch the model, add the callback, and
optionally distil from the float teacher with the Trainer subclass.

    model = AutoModelForCausalLM.from_pretrained(path)
    teacher = AutoModelForCausalLM.from_pretrained(path)
    patch_model(model)
    trainer = DistillationTrainer(model=model, teacher=teacher, args=TrainingArguments(...), train_dataset=...,
                                  callbacks=[TernaryQATCallback(lambda_warmup_steps=100)])
    trainer.train()

The Trainer's checkpoint-N/ folders and `save_pretrained` hold the patched model, which
`from_pretrained` loads back patched (hf_quantizer); `export_hf` then writes what `ternary pack` reads.
"""
from __future__ import annotations

import torch
from transformers import Trainer, TrainerCallback

from .patch import bitlinear_layers, set_quant_lambda, zero_ratios
from .train import distillation_loss


class TernaryQATCallback(TrainerCallback):
    """Ramps the quantization λ of every BitLinear from 0 to 1 over `lambda_warmup_steps` (0: fully
    ternary from the first step), and adds to each log: `quant_lambda` and the fraction of zero
    ternary weights (`zero_ratio` over all patched layers, `zero_ratio_min`/`zero_ratio_max` over
    layers, the sign of a collapsing layer). Per-layer ratios at each log are kept in
    `zero_ratio_history` as (step, {layer: ratio})."""

    def __init__(self, lambda_warmup_steps: int = 0):
        if lambda_warmup_steps < 0:
            raise ValueError(f"lambda_warmup_steps must be >= 0, got {lambda_warmup_steps}")
        self.lambda_warmup_steps = lambda_warmup_steps
        self.zero_ratio_history: list[tuple[int, dict[str, float]]] = []
        self._lambda = 1.0

    def quant_lambda(self, step: int) -> float:
        return 1.0 if self.lambda_warmup_steps == 0 else min(1.0, step / self.lambda_warmup_steps)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if model is None or not bitlinear_layers(model):
            raise ValueError("TernaryQATCallback: the model has no BitLinear layers; call ternary_qat.patch_model(model) first")

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        self._lambda = self.quant_lambda(state.global_step)
        set_quant_lambda(model, self._lambda)

    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        if logs is None or model is None or "loss" not in logs:
            return
        ratios = zero_ratios(model)
        self.zero_ratio_history.append((state.global_step, ratios))
        values = list(ratios.values())
        extra = {"quant_lambda": self._lambda, "zero_ratio": sum(values) / len(values), "zero_ratio_min": min(values),
                 "zero_ratio_max": max(values)}
        logs.update(extra)
        # The Trainer appended its record before calling back: complete that record too.
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(extra)


class DistillationTrainer(Trainer):
    """Trainer whose loss is ce_weight · (the model's own cross-entropy) + kd_weight · T² ·
    KL(teacher ‖ student) at temperature T over the positions that have labels; the teacher is
    frozen and runs without gradients. The KL term is a token mean over the whole (accumulated)
    batch, scaled like the Trainer's cross-entropy."""

    def __init__(self, *args, teacher: torch.nn.Module, kd_weight: float = 1.0, ce_weight: float = 1.0, temperature: float = 2.0,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.teacher = teacher.to(self.args.device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.kd_weight, self.ce_weight, self.temperature = kd_weight, ce_weight, temperature

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        ce, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        labels = inputs["labels"]
        with torch.no_grad():
            teacher_logits = self.teacher(**{k: v for k, v in inputs.items() if k != "labels"}).logits
        keep = labels[:, 1:] != -100  # logits at i predict token i + 1
        student, teacher = outputs.logits[:, :-1][keep], teacher_logits[:, :-1][keep]
        kd = distillation_loss(student, teacher, self.temperature) if keep.any() else ce.new_zeros(())
        if num_items_in_batch is not None and self.model_accepts_loss_kwargs:
            kd = kd * keep.sum() / num_items_in_batch  # the batch's share of the accumulated batch, as the CE is
        loss = self.ce_weight * ce + self.kd_weight * kd
        return (loss, outputs) if return_outputs else loss
