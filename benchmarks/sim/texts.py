"""What debtors write back, in Spanish and English, by intent."""

from __future__ import annotations

from benchmarks.sim.rand import pick

TEXTS = {
    ("promise", "es"): ("pago el {day}", "el {day} le deposito", "puedo pagar el {day}, gracias"),
    ("promise", "en"): ("I'll pay on {day}", "can pay {day}", "will send the payment {day}"),
    ("paid", "es"): ("ya pagué por la app", "listo, hice la transferencia"),
    ("paid", "en"): ("just paid online", "payment sent"),
    ("hardship", "es"): ("ahorita no tengo dinero", "me quedé sin trabajo, no puedo pagar", "ok"),
    ("hardship", "en"): ("can't pay right now", "lost my job", "ok"),
    ("optout", "es"): ("no me escriban más", "BAJA", "dejen de molestar, no me escriban más"),
    ("optout", "en"): ("STOP", "UNSUBSCRIBE", "STOP"),
    ("optout_all", "es"): ("no me contacten más por ningún medio",),
    ("optout_all", "en"): ("do not contact me again",),
    ("dispute", "es"): ("esta deuda no es mía", "no reconozco ese cargo"),
    ("dispute", "en"): ("this is not my debt", "I dispute this charge"),
    ("wrong_number", "es"): ("número equivocado", "no conozco a esa persona"),
    ("wrong_number", "en"): ("wrong number", "you have the wrong person"),
}
DAYS = {
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def reply_text(seed: int, intent: str, language: str, *key: object, weekday: int = 0) -> str:
    text = pick(seed, TEXTS[(intent, language)], "text", intent, *key)
    return text.format(day=DAYS[language][weekday])
