"""Chat formats: the engine renders each supported template itself (no Jinja), detected from the
model's Jinja source; here every rendering is compared with transformers' apply_chat_template on
the published templates."""
import json
import subprocess

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

TEMPLATES = {
    # meta-llama/Meta-Llama-3-8B-Instruct
    "llama3": ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
               "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
               "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
               "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}", "<|begin_of_text|>", "<|eot_id|>"),
    # microsoft/bitnet-b1.58-2B-4T
    "bitnet": ("{% for message in messages %}{{ message['role'] | capitalize + ': ' + message['content'] | trim + '<|eot_id|>' }}"
               "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}", "<|begin_of_text|>", "<|eot_id|>"),
    "chatml": ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
               "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}", "<s>", "<|im_end|>"),
    # meta-llama/Llama-2-7b-chat-hf
    "llama2": ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
               "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
               "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate') }}"
               "{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
               "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
               "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == "
               "'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}", "<s>", "</s>"),
    # mistralai/Mistral-7B-Instruct-v0.1
    "mistral": ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                "{{ raise_exception('Conversation roles must alternate') }}{% endif %}{% if message['role'] == 'user' %}"
                "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
                "{{ message['content'] + eos_token}}{% endif %}{% endfor %}", "<s>", "</s>"),
}

CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "  Hi there \n"},
     {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "Line one\nline two"}, {"role": "assistant", "content": " spaced answer "},
     {"role": "user", "content": "émoji 🤖 and <b>tags</b>"}],
]


def tokenizer_dir(tmp_path, name, bos, eos):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "</s>", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(["hello world " * 50], trainers.BpeTrainer(vocab_size=300, special_tokens=specials, show_progress=False,
                                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    d = tmp_path / name
    d.mkdir()
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({"bos_token": bos, "eos_token": eos, "chat_template": TEMPLATES[name][0]}))
    return d


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_renderings_equal_transformers_apply_chat_template(tmp_path, ternary_bin, name):
    d = tokenizer_dir(tmp_path, name, TEMPLATES[name][1], TEMPLATES[name][2])
    hf = PreTrainedTokenizerFast(tokenizer_file=str(d / "tokenizer.json"), bos_token=TEMPLATES[name][1], eos_token=TEMPLATES[name][2])
    hf.chat_template = TEMPLATES[name][0]
    for i, messages in enumerate(CONVERSATIONS):
        if name == "mistral" and messages[0]["role"] == "system":
            continue  # Mistral v0.1's template has no system role
        want = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        path = tmp_path / f"m{i}.json"
        path.write_text(json.dumps(messages))
        # The template is detected from tokenizer_config.json's Jinja source.
        got = subprocess.run([ternary_bin, "tokenize", "--tokenizer", str(d), "--chat", str(path)],
                             capture_output=True, text=True, check=True).stdout
        assert got == want, f"{name}, conversation {i}"


def test_an_unknown_template_asks_for_chat_template(tmp_path, ternary_bin):
    d = tokenizer_dir(tmp_path, "chatml", "<s>", "</s>")
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages | tojson }}"}))
    path = tmp_path / "m.json"
    path.write_text(json.dumps(CONVERSATIONS[0]))
    result = subprocess.run([ternary_bin, "tokenize", "--tokenizer", str(d), "--chat", str(path)], capture_output=True, text=True)
    assert result.returncode != 0 and "--chat-template" in result.stderr
    named = subprocess.run([ternary_bin, "tokenize", "--tokenizer", str(d), "--chat", str(path), "--chat-template", "chatml"],
                           capture_output=True, text=True, check=True)
    assert named.stdout == "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n"
