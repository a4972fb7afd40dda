"""A PDNC-format novel the project has never seen, written here from our own templates.

`write_synthetic_novel(folder)` writes `novel_text.txt`, `quotation_info.csv` and
`character_info.csv` in the corpus's column formats (Python-literal list cells, character offsets
that leave the quotation marks out, one list per sub-quotation in the mention columns) and adds the
novel's row to `<parent>/novel_index.csv`. Nothing in it is on any list in the code: not the folder
name, the title, the author code or the author, so tests can check that the builders take any novel
a user brings and name its author and characters as a reader would.

The cast is built to exercise reader-name logic. PDNC gives some characters an epithet as their
"Main Name" and uses it in the speaker column; the story itself calls them by name:

| id | Main Name (speaker column) | aliases used in the text             | a reader calls them |
|----|----------------------------|--------------------------------------|---------------------|
| 0  | The Grey Stranger          | Mr. Anselm Wrey, Wrey, Anselm        | Mr. Anselm Wrey     |
| 1  | Hester Quayle              | Hester, Miss Quayle                  | Hester Quayle       |
| 2  | The Widow at the Mill      | Mrs. Penhallow, Bridget Penhallow     | Bridget Penhallow    |
| 3  | Dr. Fenwick                | Lucius Fenwick, Fenwick               | Dr. Fenwick         |
| 4  | Jem Corrie                 | Jem, Young Corrie                    | Jem Corrie          |
| 5  | Tall Sailor                | Nathaniel Skerry, Skerry               | Nathaniel Skerry     |
| 6  | The Ferryman               | Ferryman, The Old Ferryman           | The Ferryman        |
| 7  | Mrs. Orde (never speaks)   | Lavinia Orde                         | Lavinia Orde        |

`READER_NAMES` holds the last column. Every quotation's spans are exact, every speaker and
addressee is in the character table, and the text opens with a Gutenberg-style title block.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from pathlib import Path

INDEX_COLUMNS = (
    "Novel Code", "Novel Title", "Narrative Person", "Narrator Gender (M/F/A/U)", "Author Code", "Translator Code",
    "Format of First Publication", "Format of Annotated Novel", "Year of First Publication",
    "Year of First English Translation", "Original Book Publisher (first English publisher for translations)",
    "City of First Publication", "Country of First Publication", "Genre", "Source", "Annotators", "Folder Name",
)
CHARACTER_COLUMNS = ("Character ID", "Main Name", "Aliases", "Gender", "Category")
QUOTE_COLUMNS = ("quoteID", "quoteText", "subQuotationList", "quoteByteSpans", "speaker", "addressees", "quoteType",
                 "referringExpression", "mentionTextsList", "mentionSpansList", "mentionEntitiesList")

HEADER_STYLES = ("fields", "by", "none")  # "Title:/Author:" block, a "by <author>" line, or no author at all


@dataclass(frozen=True)
class _Person:
    main: str
    aliases: tuple[str, ...]
    gender: str
    category: str
    tag: str  # how narration names them in "said ..."
    vocatives: tuple[str, ...]  # what others call them to their face


CAST = (
    _Person("The Grey Stranger", ("Mr. Anselm Wrey", "Wrey", "Anselm", "The Grey Stranger"), "M", "major",
            "Wrey", ("Wrey", "Mr. Wrey", "Anselm")),
    _Person("Hester Quayle", ("Hester", "Miss Quayle", "Hester Quayle"), "F", "major",
            "Hester", ("Hester", "Miss Quayle")),
    _Person("The Widow at the Mill", ("Mrs. Penhallow", "Bridget Penhallow", "Bridget", "The Widow at the Mill"), "F",
            "major", "Mrs. Penhallow", ("Mrs. Penhallow", "Bridget")),
    _Person("Dr. Fenwick", ("Dr. Fenwick", "Lucius Fenwick", "Fenwick"), "M", "major",
            "Dr. Fenwick", ("Doctor", "Fenwick", "Dr. Fenwick")),
    _Person("Jem Corrie", ("Jem", "Jem Corrie", "Young Corrie"), "M", "intermediate", "Jem", ("Jem",)),
    _Person("Tall Sailor", ("Tall Sailor", "Nathaniel Skerry", "Skerry"), "M", "intermediate", "Skerry", ("Skerry",)),
    _Person("The Ferryman", ("The Ferryman", "Ferryman", "The Old Ferryman"), "M", "minor",
            "the ferryman", ("Ferryman",)),
    _Person("Mrs. Orde", ("Mrs. Orde", "Lavinia Orde"), "F", "minor", "Mrs. Orde", ("Mrs. Orde",)),
)
READER_NAMES = {"0": "Mr. Anselm Wrey", "1": "Hester Quayle", "2": "Bridget Penhallow", "3": "Dr. Fenwick",
                "4": "Jem Corrie", "5": "Nathaniel Skerry", "6": "The Ferryman", "7": "Lavinia Orde"}
EPITHETS = {"0": "The Grey Stranger", "2": "The Widow at the Mill", "5": "Tall Sailor"}
SCENE_OPENING_CHARS = 1700  # narration before a scene's first quote: longer than the builders' 1,500-char scene gap
FREQUENT_SPEAKERS = ("0", "1", "2", "3")  # each speaks at least 15 times in a 6-chapter novel

# Who meets in each scene, cycled; the four frequent speakers share most scenes.
CASTS = ((0, 1), (1, 2, 3), (0, 3), (2, 4), (0, 1, 5), (3, 1), (2, 0), (4, 5, 1), (3, 2, 6), (0, 2, 1))

_THINGS = ("the lantern", "a lamp in the tower", "the old bridge", "the ferry rope", "a sealed letter", "the mill wheel",
           "a brass key", "the church clock", "a man with a limp", "the north road", "a boat without oars",
           "the ledger", "a ring of iron", "the chapel bell", "a grey coat", "the salt store")
_TIMES = ("last night", "before dawn", "on Tuesday", "at the turn of the tide", "an hour ago", "in the spring",
          "after the fair", "when the snow came", "at supper", "this morning")
_PLACES = ("the quay", "the mill race", "the crossroads", "the churchyard", "the marsh path", "the inn yard",
           "the ferry steps", "the top of the hill", "the long field", "the east gate")

_LINES = {
    0: ("I have come a long way to see {thing}, and I shall not leave before I have seen it.",
        "You ask a great many questions for someone who answers none of mine.",
        "I was here once before, {time}, though nobody in this town remembers it.",
        "A man learns to read a town by its doors; yours are all shut in the daytime.",
        "Tell me who keeps the key to {thing}, and I will tell you why I came.",
        "I paid for my room in silver, and silver, I find, buys a great deal of silence here.",
        "There are worse things on {place} than a stranger in a grey coat.",
        "I mean no harm to anyone who has done none, and I think you know the difference.",
        "It is not my name that troubles you; it is what I might remember.",
        "Walk with me as far as {place} and I will show you what I found {time}.",
        "Patience is a cheap virtue for those who have nothing to lose.",
        "The debt was made in this town, and it will be paid in this town."),
    1: ("I will not pretend I have not wondered about {thing}, but wondering is not the same as prying.",
        "My father kept the accounts for forty years and never once lied in them.",
        "If you are going to frighten people, you might at least have the courtesy to say why.",
        "I saw a light on {place} {time}, and I am quite certain I did not dream it.",
        "Mrs. Orde says I am too curious for my own good, and she may be right.",
        "You speak as though the whole town were guilty of something.",
        "I have mended every sail on this quay and I know which boats go out at night.",
        "Do not laugh at me; I have been awake half the night over {thing}.",
        "There is no shame in being afraid, only in pretending you are not.",
        "I would rather know the worst than go on guessing at it.",
        "Someone moved {thing} {time}, and I mean to find out who.",
        "You may keep your secrets, but do not expect me to keep mine for you."),
    2: ("The wheel has turned in that race since before your mother was born.",
        "I buried a husband and two brothers from this parish; do not tell me about grief.",
        "Whoever rang the bell {time} had a key, and there are only three keys.",
        "You will take your tea and you will listen, and then you may argue.",
        "I have flour on my hands and no patience left for riddles.",
        "My husband trusted {thing} to no one, and I have kept it the same way.",
        "People talk at the mill, and a widow hears more than a priest.",
        "If the stranger wanted money he would have asked for it by now.",
        "There was a night, years ago, when the ferry did not cross, and nobody ever said why.",
        "Mrs. Orde came to me {time} with her hands shaking, and she would not say a word.",
        "I am not afraid of ghosts; it is the living who break windows.",
        "Go down to {place} if you must, but go before dark and go together."),
    3: ("I have set the bones of half this town and I have never seen a wound like that.",
        "The fever is not what frightens me; it is what people say when the fever is on them.",
        "There is a medical explanation for {thing}, though I confess I cannot yet give it.",
        "I was called to {place} {time} and found nobody there but a dog.",
        "Keep him warm, give him broth, and for pity's sake keep him from talking.",
        "A doctor learns to keep other people's secrets, but I will not keep a lie.",
        "I should like to know where you were {time}, purely as a matter of science.",
        "My hands are steady enough, but I am not a young man and the marsh is cold.",
        "The ledger says the man died of a chill, and I signed it, God forgive me.",
        "Pulse, breath and colour tell me more than any confession.",
        "If you will not rest, at least sit down while you refuse to."),
    4: ("I ran all the way from {place} and I never stopped once, not even for the dogs.",
        "Nobody pays me to watch the quay, but I watch it all the same.",
        "I saw a man in a grey coat go past the inn {time}, walking like he owned the road.",
        "Can I come too? I know every path through the marsh, even the drowned ones.",
        "My mother says I talk too much, but she has never once been wrong about the tide.",
        "If you give me a penny I will tell you who has been asking about {thing}.",
        "I am not frightened of the dark, only of what lives under the bridge."),
    5: ("I sailed eleven years out of this harbour and I never once saw the lantern lit at sea.",
        "A rope like that does not fray by itself; it was cut, clean as bread.",
        "I know the look of a man who has been at sea, and that stranger has it.",
        "Ask the tide where {thing} went; it keeps better accounts than the harbour master.",
        "I will stand a watch at {place} tonight if someone brings me coffee.",
        "My knees are not what they were, but my eyes are."),
    6: ("I take folk across and I take their coins and I do not take their business home with me.",
        "The river was high {time}, too high for any honest crossing.",
        "Nobody crosses after the bell, not for love nor money nor the doctor."),
}

_SETTING = (
    "The town of Harrow Cross stood where the north road met the river, and it had stood there long enough to "
    "forget why.",
    "Fog lay in the hollows of the long field until nearly noon, grey and patient as a sleeping animal.",
    "The lantern in the old tower had not been lit in living memory, though every child in the parish could "
    "point to it.",
    "Rain came in from the estuary in long slanting lines, and the gutters of the inn yard ran like small "
    "brown rivers.",
    "At the mill the great wheel turned and turned, and the sound of it was the first thing a stranger noticed "
    "and the last thing a native heard.",
    "Down on the quay the boats knocked together on their ropes, and a gull stood on the harbour wall as if "
    "it had been posted there.",
    "The churchyard was full of names that were also the names of shops, so that the living and the dead of "
    "Harrow Cross seemed to be in the same trade.",
    "A tall sailor with a stiff knee sat most afternoons on the ferry steps, mending nets that did not need "
    "mending.",
    "The widow at the mill was a small, square woman who had outlived most of the people who had once been "
    "sorry for her.",
    "Nobody in the town could say where the grey stranger had come from, only that he had arrived on foot "
    "and paid in silver.",
    "The marsh path was safe in summer and treacherous in winter, and the difference between them was a "
    "matter of a few inches of water.",
    "Evening came early in that season, and with it a wind that smelled of salt and wet stone.",
    "Smoke from a dozen chimneys hung over the roofs, and the church clock struck the quarter as though it "
    "were reluctant to admit the time.",
    "The old ferryman kept a lamp burning in his hut all night, a small yellow eye at the water's edge.",
    "There was a grey light over everything, the light of a morning that had not made up its mind.",
    "Somewhere below the bridge a dog barked three times and then, as if thinking better of it, fell silent.",
    "The doctor's house was the only one in the street with a brass plate, and the plate was kept very "
    "bright.",
    "Hester Quayle had mended sails on the quay since she was fourteen, and she could tell a boat by the "
    "sound of its rigging.",
    "Jem Corrie was small for his age and quick for any age, and there was no wall in the town he had not "
    "climbed.",
    "The inn kept two rooms for travellers, and for most of the year both of them were empty.",
    "Mrs. Orde, who kept the shop by the east gate, was said to know everything and to repeat only half of "
    "it.",
    "A cart went by with a load of turnips, and the driver lifted his whip to nobody in particular.",
    "The tide went out across the flats and left behind it a shining country of mud and small stranded "
    "boats.",
    "In the long afternoons the bell of the chapel was silent, and the swallows went in and out of the "
    "tower.",
)

_INTRODUCTIONS = (
    "The stranger gave his name at the inn as Mr. Anselm Wrey, and wrote it in the book in a small, careful "
    "hand, as though he had practised it.",
    "Her full name, as it stood in the parish register, was Bridget Penhallow, but nobody had used it since "
    "her wedding.",
    "The sailor's name was Nathaniel Skerry, though the children called him nothing but the tall sailor, and "
    "he answered to either.",
    "Dr. Fenwick, whose Christian name of Lucius was known only to the vicar, kept his hat on indoors.",
    "Mrs. Orde, whom her late husband had called Lavinia Orde in every letter, was not at home.",
    "It was Mr. Anselm Wrey, the grey stranger, who first said aloud what the town had been thinking.",
    "Bridget Penhallow signed the paper with a hand white with flour.",
)

_GESTURES = ("turning to the window", "without looking up", "after a moment", "lowering his voice",
             "with a short laugh", "setting down the cup", "folding the letter", "as the clock struck")
_ACTIONS = ("{tag} crossed to the fire and held out {pos} hands to it.", "{tag} looked at the door as if expecting "
            "someone.", "There was a silence in which the kettle began to sing.", "{tag} did not answer at once.",
            "Outside, a cart rattled past and was gone.", "{tag} sat down heavily on the bench.")
_CHAPTER_TITLES = ("A Light in the Tower", "The Widow's Key", "Fog on the Marsh", "What the Tide Left",
                   "The Doctor's Ledger", "The Ferry Does Not Cross", "Silver and Salt", "The Bell at Night",
                   "A Name in the Register", "The Lantern Is Lit")


def write_synthetic_novel(folder: Path, *, title: str = "The Lantern at Harrow Cross",
                          author: str = "Margaret Ellery Vane", author_code: str = "VANE", n_chapters: int = 6,
                          seed: int = 0, header: str = "fields", index: bool = True) -> Path:
    """Write a PDNC-format novel folder at `folder` (created) and return it.

    `header`: "fields" opens the text with "Title: ...\\n\\nAuthor: ..." (Project Gutenberg's block),
    "by" with the title and a "by <author>" line, "none" with the title only. `index`: add the novel's
    row (author code, no author name) to `folder.parent / "novel_index.csv"`, creating it if needed.
    """
    if header not in HEADER_STYLES:
        raise ValueError(f"header must be one of {HEADER_STYLES}, not {header!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    writer = _NovelWriter(random.Random(seed))
    writer.front_matter(title, author, header)
    for number in range(1, n_chapters + 1):
        writer.chapter(number)
    (folder / "novel_text.txt").write_text(writer.text, encoding="utf-8")
    _write_csv(folder / "character_info.csv", CHARACTER_COLUMNS, _character_rows())
    _write_csv(folder / "quotation_info.csv", QUOTE_COLUMNS, writer.rows)
    if index:
        _add_index_row(folder, title=title, author_code=author_code)
    return folder


class _NovelWriter:
    """Appends text piece by piece, so every quotation's offsets are known as it is written."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.pieces: list[str] = []
        self.length = 0
        self.rows: list[list[str]] = []
        self.scene_number = 0
        self.used_quotes: set[str] = set()
        self.scene_lines: set[str] = set()  # line templates already spoken in the current scene

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def add(self, piece: str) -> int:
        start = self.length
        self.pieces.append(piece)
        self.length += len(piece)
        return start

    def front_matter(self, title: str, author: str, header: str) -> None:
        if header == "fields":
            self.add(f"Title: {title}\n\nAuthor: {author}\n\n\n\n")
        elif header == "by":
            self.add(f"{title.upper()}\n\nby {author}\n\n\n\n")
        else:
            self.add(f"{title.upper()}\n\n\n\n")

    def chapter(self, number: int) -> None:
        self.add(f"CHAPTER {_roman(number)}\n{_CHAPTER_TITLES[(number - 1) % len(_CHAPTER_TITLES)]}\n\n\n")
        for _ in range(3):
            self.scene()

    def scene(self) -> None:
        """Opening narration long enough to separate scenes (over 1,500 characters), then dialogue."""
        cast = CASTS[self.scene_number % len(CASTS)]
        self.scene_number += 1
        self.scene_lines = set()
        setting = self.rng.sample(_SETTING, len(_SETTING))
        setting.insert(4, _INTRODUCTIONS[(self.scene_number - 1) % len(_INTRODUCTIONS)])
        opening = 0
        while opening < SCENE_OPENING_CHARS:
            paragraph = " ".join(setting.pop(0) for _ in range(3)) + "\n\n"
            self.add(paragraph)
            opening += len(paragraph)
        turns = self.rng.randint(10, 14)
        previous = None
        for turn in range(turns):
            speaker = cast[turn % len(cast)] if turn < len(cast) else self.rng.choice([c for c in cast if c != previous])
            listeners = [c for c in cast if c != speaker]
            self.quote(speaker, listeners)
            previous = speaker
        self.add("\n")

    def quote(self, speaker: int, listeners: list[int]) -> None:
        person = CAST[speaker]
        first, second = self.sentences(speaker, listeners)
        style = self.rng.choice(("explicit", "explicit", "anaphoric", "implicit", "split"))
        if style == "split" and not second:
            style = "explicit"
        if self.rng.random() < 0.3:
            action = self.rng.choice(_ACTIONS).format(tag=person.tag, pos="his" if person.gender == "M" else "her")
            self.add(_sentence_case(action) + " ")
        pronoun = "he" if person.gender == "M" else "she"
        subs: list[tuple[str, int]] = []
        self.add('"')
        if style == "split":
            first = _before_tag(first)
            subs.append((first, self.add(first)))
            reference = f"said {person.tag}"
            self.add(f'" {reference}, {self.rng.choice(_GESTURES)}. "')
            subs.append((second, self.add(second)))
            self.add('"\n\n')
            quote_type = "Explicit"
        else:
            words = f"{first} {second}".strip()
            words = words if style == "implicit" else _before_tag(words)
            subs.append((words, self.add(words)))
            if style == "explicit":
                reference = f"said {person.tag}"
                self.add(f'" {reference}.\n\n')
                quote_type = "Explicit"
            elif style == "anaphoric":
                reference = f"{pronoun} said"
                self.add(f'" {reference}.\n\n')
                quote_type = "Anaphoric"
            else:
                reference = "nan"
                self.add('"\n\n')
                quote_type = "Implicit"
        self.rows.append(self.row(speaker, listeners, subs, quote_type, reference))

    def sentences(self, speaker: int, listeners: list[int]) -> tuple[str, str]:
        """One or two filled lines, unique across the novel, sometimes opening with a listener's name."""
        fresh = [line for line in _LINES[speaker] if line not in self.scene_lines]
        for _ in range(50):
            picked = self.rng.sample(fresh if len(fresh) >= 2 else _LINES[speaker], 2)
            lines = [self.fill(line) for line in picked]
            if self.rng.random() < 0.35 and listeners:
                name = self.rng.choice(CAST[self.rng.choice(listeners)].vocatives)
                lines[0] = f"{name}, {_lower_first(lines[0])}"
            first, second = (lines[0], lines[1]) if self.rng.random() < 0.6 else (lines[0], "")
            if f"{first} {second}" not in self.used_quotes:
                self.used_quotes.add(f"{first} {second}")
                self.scene_lines.update(picked if second else picked[:1])
                return first, second
        raise RuntimeError("the line templates cannot give another distinct quotation")

    def fill(self, line: str) -> str:
        filled = line.format(thing=self.rng.choice(_THINGS), time=self.rng.choice(_TIMES),
                             place=self.rng.choice(_PLACES))
        return _sentence_case(filled)

    def row(self, speaker: int, listeners: list[int], subs: list[tuple[str, int]], quote_type: str,
            reference: str) -> list[str]:
        spans = [[start, start + len(words)] for words, start in subs]
        mentions = [_mentions(words, start) for words, start in subs]
        return [
            f"Q{len(self.rows)}",
            " ".join(words for words, _ in subs),
            str([words for words, _ in subs]),
            str(spans),
            CAST[speaker].main,
            str([CAST[listener].main for listener in listeners]),
            quote_type,
            reference,
            str([[text for text, _, _ in sub] for sub in mentions]),
            str([[span for _, span, _ in sub] for sub in mentions]),
            str([[[entity] for _, _, entity in sub] for sub in mentions]),
        ]


def _mentions(words: str, start: int) -> list[tuple[str, list[int], str]]:
    """Names of the cast inside a quotation, longest names first, with offsets into the novel."""
    names = sorted({(name, person.main) for person in CAST for name in (*person.aliases, *person.vocatives)
                    if name[0].isupper() and not name.startswith("The ")}, key=lambda pair: -len(pair[0]))
    taken: list[tuple[int, int]] = []
    found = []
    for name, main in names:
        for match in re.finditer(rf"(?<![\w.]){re.escape(name)}(?!\w)", words):
            if any(match.start() < end and start_ < match.end() for start_, end in taken):
                continue
            taken.append((match.start(), match.end()))
            found.append((name, [start + match.start(), start + match.end()], main))
    return sorted(found, key=lambda item: item[1])


def _character_rows() -> list[list[str]]:
    return [[str(number), person.main, str(set(person.aliases)), person.gender, person.category]
            for number, person in enumerate(CAST)]


def _add_index_row(folder: Path, *, title: str, author_code: str) -> None:
    path = folder.parent / "novel_index.csv"
    row = {"Novel Code": "SYN" + folder.name[:1].upper(), "Novel Title": title, "Narrative Person": "3.0",
           "Narrator Gender (M/F/A/U)": "U", "Author Code": author_code, "Format of First Publication": "Book",
           "Format of Annotated Novel": "Book", "Genre": "literary", "Annotators": "synthetic fixture",
           "Folder Name": folder.name}
    exists = path.is_file()
    with path.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INDEX_COLUMNS, quoting=csv.QUOTE_MINIMAL)
        if not exists:
            writer.writeheader()
        writer.writerow({column: row.get(column, "") for column in INDEX_COLUMNS})


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL if header == QUOTE_COLUMNS else csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)


def _roman(number: int) -> str:
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, numeral in numerals:
        while number >= value:
            out += numeral
            number -= value
    return out


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    """Lower the first letter unless the sentence opens with "I" or a name."""
    if text.split(" ", 1)[0] in ("I", "I'm", "I've", "I'd", "I'll") or any(
            text.startswith(f"{alias} ") for person in CAST for alias in person.aliases):
        return text
    return text[:1].lower() + text[1:]


def _before_tag(words: str) -> str:
    """ "It is late." said Wrey -> "It is late," said Wrey; questions and exclamations keep their mark."""
    return words[:-1] + "," if words.endswith(".") else words
