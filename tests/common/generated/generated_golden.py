"""Hand-written generated-code examples, written the way method.md describes the skills and pi_T."""

PRECONDITION_BREAK = """
def any_precondition(ctx):
    return ctx.merchant_precondition or ctx.worshipper_precondition
"""

SKILL_CODE: dict[str, str] = {
    "Discoverer": PRECONDITION_BREAK + """
def initiation(ctx):
    return True

def termination(ctx):
    return ctx.turns_since_skill_start >= ctx.skill_turns or any_precondition(ctx)
""",
    "Descender": PRECONDITION_BREAK + """
def initiation(ctx):
    return True

def termination(ctx):
    return ctx.now.depth > ctx.at_skill_start.depth or any_precondition(ctx)
""",
    "Ascender": PRECONDITION_BREAK + """
def initiation(ctx):
    return True

def termination(ctx):
    return ctx.now.depth < ctx.at_skill_start.depth or any_precondition(ctx)
""",
    "Worshipper": """
TURN_FACTOR = 20

def initiation(ctx):
    return ctx.worshipper_precondition

def termination(ctx):
    return ctx.turns_since_skill_start >= TURN_FACTOR * ctx.skill_turns or ctx.merchant_precondition
""",
    "Merchant": """
TURN_FACTOR = 20

def initiation(ctx):
    return ctx.merchant_precondition

def termination(ctx):
    return ctx.turns_since_skill_start >= TURN_FACTOR * ctx.skill_turns or ctx.worshipper_precondition
""",
}
"""Initiation and termination per skill."""

TRAINING_POLICY = '''
"""pi_T: Discoverer, then Descender to a random max depth 2-4, then Ascender back to depth 1, alternating."""
MIN_MAX_DEPTH = 2
MAX_MAX_DEPTH = 4

def pick_target(ctx, state):
    state["max_depth"] = MIN_MAX_DEPTH + int(ctx.random * (MAX_MAX_DEPTH - MIN_MAX_DEPTH + 1))
    state["direction"] = "down"

def select_skill(ctx, available, state):
    for skill in ["Merchant", "Worshipper"]:
        if skill in available and ctx.active_skill != skill:
            return skill
    if "max_depth" not in state:
        pick_target(ctx, state)
    if state["direction"] == "down" and ctx.now.depth >= state["max_depth"]:
        state["direction"] = "up"
    elif state["direction"] == "up" and ctx.now.depth <= 1:
        pick_target(ctx, state)
    if ctx.active_skill != "Discoverer":
        choice = "Discoverer"
    elif state["direction"] == "down":
        choice = "Descender"
    else:
        choice = "Ascender"
    state["history"] = state.get("history", 0) + 1
    return choice
'''
"""The training-time policy over skills."""
