"""Third-person rewrite of thoughts into options (builders/tomato/rewrite.py): fixed cases."""

import pytest

from builders.tomato.rewrite import Person, first_sentence, third_person
from builders.tomato.vocab import PRONOUNS

LIAM = Person("Liam", PRONOUNS["he"])
ETHAN = Person("Ethan", PRONOUNS["he"])
MIA = Person("Mia", PRONOUNS["she"])
ZOE = Person("Zoe", PRONOUNS["she"])
ALEX = Person("Alex", PRONOUNS["they"])
SAM = Person("Sam", PRONOUNS["they"])
ZOE_ACCENT = Person("Zoë", PRONOUNS["she"])

CASES = [
    # (thought, state, order, speaker, partner, expected option)
    # first order: prefix and verb agreement
    ("I feel nervous about the meeting.", "emotion", 1, MIA, LIAM, "She feels nervous about the meeting."),
    ("I feel nervous about the meeting.", "emotion", 1, ALEX, LIAM, "They feel nervous about the meeting."),
    ("I think the plan is risky.", "belief", 1, LIAM, MIA, "He thinks the plan is risky."),
    ("I think the plan is risky.", "belief", 1, SAM, MIA, "They think the plan is risky."),
    ("I want a fair price for the bike.", "desire", 1, ALEX, MIA, "They want a fair price for the bike."),
    ("I know the store closes at six.", "knowledge", 1, MIA, ALEX, "She knows the store closes at six."),
    ("I will ask for a discount.", "intention", 1, ALEX, MIA, "They will ask for a discount."),
    # second order: "<Speaker> thinks that <partner> <verb>"
    ("I think that he feels hurt.", "emotion", 2, MIA, LIAM, "She thinks that he feels hurt."),
    ("I think that she wants to leave early.", "desire", 2, ALEX, MIA, "They think that she wants to leave early."),
    ("I think that they know the answer.", "knowledge", 2, MIA, ALEX, "She thinks that they know the answer."),
    ("I think that she will say no.", "intention", 2, LIAM, MIA, "He thinks that she will say no."),
    # shared pronoun: the partner is named
    ("I think that he feels ignored.", "emotion", 2, ETHAN, LIAM, "He thinks that Liam feels ignored."),
    ("I think that she thinks the idea is silly.", "belief", 2, ZOE, MIA, "She thinks that Mia thinks the idea is silly."),
    ("I think that they feel tired.", "emotion", 2, SAM, ALEX, "They think that Alex feels tired."),
    ("I feel you are not listening to me.", "emotion", 1, LIAM, ETHAN, "He feels Ethan is not listening to him."),
    ("I want your honest opinion.", "desire", 1, ZOE, MIA, "She wants Mia's honest opinion."),
    ("I think that they feel you're hiding something from me.", "emotion", 2, SAM, ALEX,
     "They think that Alex feels Alex is hiding something from them."),
    # I / me / my / mine / myself and contractions -> the speaker's forms
    ("I feel proud of myself and my work.", "emotion", 1, MIA, LIAM, "She feels proud of herself and her work."),
    ("I feel the idea was mine.", "emotion", 1, LIAM, MIA, "He feels the idea was his."),
    ("I feel that I'm being ignored.", "emotion", 1, MIA, LIAM, "She feels that she's being ignored."),
    ("I feel that I'm being ignored.", "emotion", 1, ALEX, LIAM, "They feel that they're being ignored."),
    ("I know I've made a mistake.", "knowledge", 1, LIAM, MIA, "He knows he's made a mistake."),
    ("I know I've made a mistake.", "knowledge", 1, ALEX, MIA, "They know they've made a mistake."),
    ("I think I'll wait a bit.", "belief", 1, MIA, LIAM, "She thinks she'll wait a bit."),
    ("I think I'd rather stay home.", "belief", 1, SAM, LIAM, "They think they'd rather stay home."),
    ("I feel happy because I am finally heard.", "emotion", 1, LIAM, MIA, "He feels happy because he is finally heard."),
    ("I feel happy because I am finally heard.", "emotion", 1, ALEX, MIA, "They feel happy because they are finally heard."),
    ("I feel bad that I was late.", "emotion", 1, ALEX, MIA, "They feel bad that they were late."),
    ("I feel bad that I was late.", "emotion", 1, MIA, ALEX, "She feels bad that she was late."),
    ("I think that he feels I don't care.", "emotion", 2, MIA, LIAM, "She thinks that he feels she doesn't care."),
    ("I think that he knows I have a secret.", "knowledge", 2, MIA, LIAM, "She thinks that he knows she has a secret."),
    ("I think that she believes me.", "belief", 2, LIAM, MIA, "He thinks that she believes him."),
    ("I want to help, and I really need the money.", "desire", 1, MIA, LIAM,
     "She wants to help, and she really needs the money."),
    ("I feel tired and want to go home.", "emotion", 1, LIAM, MIA, "He feels tired and wants to go home."),
    ("I feel tired and want to go home.", "emotion", 1, SAM, MIA, "They feel tired and want to go home."),
    ("I hope that I can try again.", "desire", 1, MIA, LIAM, "She hopes that she can try again."),
    ("I know I worry too much.", "knowledge", 1, LIAM, MIA, "He knows he worries too much."),
    # you / your / yours / yourself -> the partner's forms, subject vs object
    ("I feel you are lying to me.", "emotion", 1, MIA, LIAM, "She feels he is lying to her."),
    ("I feel you are lying to me.", "emotion", 1, MIA, ALEX, "She feels they are lying to her."),
    ("I think you were right.", "belief", 1, LIAM, MIA, "He thinks she was right."),
    ("I want to thank you for your help.", "desire", 1, MIA, LIAM, "She wants to thank him for his help."),
    ("I want you to know the truth.", "desire", 1, LIAM, MIA, "He wants her to know the truth."),
    ("I think you deserve better.", "belief", 1, MIA, LIAM, "She thinks he deserves better."),
    ("I hope you succeed.", "desire", 1, MIA, LIAM, "She hopes he succeeds."),
    ("I know you like me.", "knowledge", 1, MIA, LIAM, "She knows he likes her."),
    ("I know you like me.", "knowledge", 1, MIA, ALEX, "She knows they like her."),
    ("I will treat you like a friend.", "intention", 1, LIAM, MIA, "He will treat her like a friend."),
    ("I believe you.", "belief", 1, MIA, LIAM, "She believes him."),
    ("I feel the car is yours.", "emotion", 1, MIA, LIAM, "She feels the car is his."),
    ("I want you to take care of yourself.", "desire", 1, MIA, LIAM, "She wants him to take care of himself."),
    ("I think you've been working hard.", "belief", 1, MIA, LIAM, "She thinks he's been working hard."),
    ("I think you're upset.", "belief", 1, MIA, ALEX, "She thinks they're upset."),
    ("I think you don't trust me.", "belief", 1, MIA, LIAM, "She thinks he doesn't trust her."),
    ("I will let you decide.", "intention", 1, MIA, LIAM, "She will let him decide."),
    ("I think that she feels happy when you and I talk.", "emotion", 2, LIAM, MIA,
     "He thinks that she feels happy when she and he talk."),
    # we / us / our -> they / them / their
    ("I feel like we should talk about our plans.", "emotion", 1, LIAM, MIA,
     "He feels like they should talk about their plans."),
    ("I think that she wants us to work together.", "desire", 2, LIAM, MIA,
     "He thinks that she wants them to work together."),
    # first sentence only, whitespace normalised
    ("I feel  relieved. I was worried before.", "emotion", 1, MIA, LIAM, "She feels relieved."),
    ("I think that he feels calm! But maybe not.", "emotion", 2, MIA, LIAM, "She thinks that he feels calm!"),
    ("I feel Mr. Smith is kind.", "emotion", 1, MIA, LIAM, "She feels Mr. Smith is kind."),
    # the Unicode a capable model writes: the thought's curly apostrophes are kept ("I’m" -> "she’s"),
    # accented names are words, dashes, digits and currency pass through, "…" and closing quotes end sentences
    ("I feel I’m ready.", "emotion", 1, MIA, LIAM, "She feels she’s ready."),
    ("I feel that I’m being ignored — Zoë’s note said £40 by 3:30.", "emotion", 1, MIA, LIAM,
     "She feels that she’s being ignored — Zoë’s note said £40 by 3:30."),
    ("I think that he feels I don’t care about the 1920s flat… Then again, maybe not.", "emotion", 2, MIA, LIAM,
     "She thinks that he feels she doesn’t care about the 1920s flat…"),
    ("I feel… uneasy about you, and I can’t say why. More later.", "emotion", 1, ALEX, LIAM,
     "They feel… uneasy about him, and they can’t say why."),
    ("I think that she thinks you’re hiding Renée’s letter from me.", "belief", 2, MIA, ZOE_ACCENT,
     "She thinks that Zoë thinks Zoë is hiding Renée’s letter from her."),
    ("I feel the café was “too loud.” Then we left.", "emotion", 1, MIA, LIAM, "She feels the café was “too loud.”"),
    ("I want your honest opinion, Zoë.", "desire", 1, MIA, ZOE_ACCENT, "She wants Zoë's honest opinion, Zoë."),
    ("I’m sure it's fine — I’ve checked.", "belief", 1, LIAM, MIA, "He's sure it's fine — he's checked."),  # mixed: ASCII
    # a thought without the expected prefix still gets every rule
    ("Maybe I should ask you.", "belief", 1, MIA, LIAM, "Maybe she should ask him."),
    ("I am sure you know.", "knowledge", 1, ALEX, MIA, "They are sure she knows."),
]


@pytest.mark.parametrize("thought,state,order,speaker,partner,expected", CASES)
def test_rewrite_fixed_cases(thought, state, order, speaker, partner, expected):
    assert third_person(thought, state=state, order=order, speaker=speaker, partner=partner) == expected


@pytest.mark.parametrize("thought,state,order,speaker,partner,expected", CASES)
def test_rewrite_leaves_no_first_person_and_no_they_agreement_errors(thought, state, order, speaker, partner,
                                                                     expected):
    import re
    option = third_person(thought, state=state, order=order, speaker=speaker, partner=partner)
    assert not re.search(r"\b(I|I['’]m|I['’]ve|I['’]ll|I['’]d)\b", option)
    assert not re.search(r"\b(me|my|mine|myself|we|us|our)\b", option, re.IGNORECASE)
    assert not re.search(r"\b[Tt]hey (thinks|feels|wants|knows|is|was)\b", option)


def test_first_sentence():
    assert first_sentence("One. Two.") == "One."
    assert first_sentence("No end") == "No end"
    assert first_sentence("Dr. Who is here. Yes.") == "Dr. Who is here."
