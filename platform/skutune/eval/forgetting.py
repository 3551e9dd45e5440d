"""The forgetting check: does the tuned model still do the everyday things its base could?

A small fixed set of everyday instructions (no system prompt, nothing about shopping) with
the words a correct answer contains and one reference answer. Two scores, compared with the
base model's: `everyday_acc`, the share of greedy answers that contain an expected word, and
`everyday_nll`, the mean per-token loss of the reference answers (lower is better).
"""

import torch

from skutune.generate import generate_all

EVERYDAY = [  # instruction, words a right answer contains (any), a reference answer
    ("What is the capital of France?", ("paris",), "The capital of France is Paris."),
    ("What is the capital of Japan?", ("tokyo",), "The capital of Japan is Tokyo."),
    ("Which planet is known as the Red Planet?", ("mars",), "Mars is known as the Red Planet."),
    ("What is 12 plus 7?", ("19", "nineteen"), "12 plus 7 is 19."),
    ("What is 9 times 6?", ("54", "fifty-four"), "9 times 6 is 54."),
    ("How many days are in a week?", ("7", "seven"), "There are seven days in a week."),
    ("Translate 'thank you' into Spanish.", ("gracias",), "'Thank you' in Spanish is 'gracias'."),
    ("Translate 'good morning' into French.", ("bonjour",), "'Good morning' in French is 'bonjour'."),
    (
        "What gas do plants absorb from the air for photosynthesis?",
        ("carbon dioxide", "co2"),
        "Plants absorb carbon dioxide for photosynthesis.",
    ),
    ("What is the largest ocean on Earth?", ("pacific",), "The Pacific Ocean is the largest ocean on Earth."),
    ("Who wrote 'Romeo and Juliet'?", ("shakespeare",), "William Shakespeare wrote 'Romeo and Juliet'."),
    ("What is the freezing point of water in Celsius?", ("0", "zero"), "Water freezes at 0 degrees Celsius."),
    (
        "Name the primary colours of light.",
        ("red", "green", "blue"),
        "The primary colours of light are red, green and blue.",
    ),
    ("What is the opposite of 'hot'?", ("cold",), "The opposite of 'hot' is 'cold'."),
    ("How many legs does a spider have?", ("8", "eight"), "A spider has eight legs."),
    ("What is the chemical symbol for gold?", ("au",), "The chemical symbol for gold is Au."),
    ("Write the word 'cat' in capital letters.", ("CAT",), "CAT"),
    ("What comes after Tuesday?", ("wednesday",), "Wednesday comes after Tuesday."),
    ("Which animal is known as the king of the jungle?", ("lion",), "The lion is known as the king of the jungle."),
    (
        "What is the boiling point of water in Celsius at sea level?",
        ("100", "hundred"),
        "Water boils at 100 degrees Celsius at sea level.",
    ),
]


def _correct(answer: str, words) -> bool:
    return any((w in answer) if w.isupper() else (w in answer.lower()) for w in words)


@torch.inference_mode()
def everyday_check(tok, model, batch_size: int = 20, max_new_tokens: int = 32) -> dict:
    from skutune.train.batches import LeftPadCollate
    from skutune.train.step import mean_target_loss

    chats = [[{"role": "user", "content": q}] for q, _, _ in EVERYDAY]
    prompts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
    answers = generate_all(tok, model, prompts, batch_size, max_new_tokens, desc="everyday")
    ids, labels = [], []
    for prompt, (_, _, reference) in zip(prompts, EVERYDAY):
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        a = tok(reference + tok.eos_token, add_special_tokens=False)["input_ids"]
        ids.append(p + a)
        labels.append([-100] * len(p) + a)
    batch = {
        k: v.to(model.device) for k, v in LeftPadCollate(tok.pad_token_id)({"input_ids": ids, "labels": labels}).items()
    }
    return {
        "everyday_acc": sum(_correct(a, w) for a, (_, w, _) in zip(answers, EVERYDAY)) / len(EVERYDAY),
        "everyday_nll": float(mean_target_loss(model, batch)),
        "everyday_answers": answers,
    }
