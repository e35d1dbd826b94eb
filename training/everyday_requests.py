"""Everyday requests written one by one for Tiergate, without slots: the weak spots of issue 21.

The task-type head took brainstorming phrased as a question ("What are some ...?") and summaries of a
pasted text for open questions (tier1), because the open questions it learned from (exam stems,
plain questions) share their first words. Each line below is a separate request, written for this
repository (its licence), in the phrasing people use in a chat box: questions that ask for several
options, plans or ideas (brainstorming), asks to shorten or sum up a text that follows or precedes
them (summary; passages come from the training split of the RouteLLM pairs, as in
``passage_examples``), asks to restate a given text in another form (format_rewrite), and, so that
"What are ...?" does not turn into brainstorming by itself, factual questions with one answer
(open_question). None was taken from or checked against an evaluation set.
"""
from __future__ import annotations

import random

from training.passage_examples import passages

SEED = 29

BRAINSTORMING = [
    "What are some fun things to do in Lisbon with two teenagers?",
    "What are some good names for a golden retriever puppy?",
    "What are some ways I can save money on groceries each month?",
    "What are a few hobbies I could pick up that don't cost much?",
    "What should I cook for a dinner party of six where one guest is vegan?",
    "What are some good conversation starters for a first date?",
    "What could I get my dad for his 70th birthday? He likes gardening and jazz.",
    "What are some creative ways to propose to my girlfriend?",
    "Any ideas for a theme for my daughter's 8th birthday party?",
    "What are some good exercises I can do at home without equipment?",
    "What are some side hustles a nurse could do on weekends?",
    "Can you think of some catchy names for a podcast about gardening?",
    "What are some things I can do to be more productive when working from home?",
    "Which board games would work well for a group of eight adults?",
    "What are some questions I should ask at the end of a job interview?",
    "What are good ways to keep kids entertained on a long car ride?",
    "What are some unusual pizza toppings worth trying?",
    "What are some good books for someone who loved The Martian?",
    "What are some topics I could write about on a travel blog?",
    "What can I do with leftover rice?",
    "What are some ways to reuse old glass jars?",
    "Could you suggest a few names for my bakery? It's small and in an old train station.",
    "What are some habits that help you fall asleep faster?",
    "What are some fundraising ideas for a school football club?",
    "What are the best ways to meet new people after moving to a new city?",
    "Give me some ideas for a costume I can make in one evening.",
    "What are some low-maintenance plants for a dark office?",
    "I need some ideas for a science fair project for a 12 year old.",
    "What are some cheap date ideas in winter?",
    "What could I write in a card for a coworker who is retiring?",
    "What are possible titles for a short story about a lighthouse keeper?",
    "Which features should a good recipe app have?",
    "What are some ways to celebrate an anniversary at home?",
    "What are some good icebreakers for a workshop with strangers?",
    "Can you list some fun team names for a pub quiz?",
    "What are some things to pack for a week of camping in Norway?",
    "What are some good ways to learn Spanish vocabulary?",
    "What are a few ideas for a logo for a bicycle repair shop?",
    "What would be some good research questions about urban bees?",
    "What are some ways to make a presentation more engaging?",
    "Give me five ideas to make our team meetings less boring.",
    "Suggest a few weekend trips from Munich for October.",
    "List some cheap ways to decorate a plain white wall.",
    "Brainstorm some names for a fantasy kingdom by the sea.",
    "Suggest a weekly meal plan for a family of four on a budget.",
    "Tell me some ideas for a New Year's resolution that I can actually keep.",
    "What are some alternatives to coffee in the morning?",
    "What are fun activities for a company summer picnic?",
    "Can you help me think of a name for my Etsy shop that sells candles?",
    "What are some questions I could ask my grandmother about her childhood?",
    "Which places in Japan should I visit in 10 days?",
    "What are some interesting facts I could include in a toast for my brother?",
    "Give me a list of things to do before moving house.",
    "List some possible reasons a houseplant's leaves turn yellow, so I can check them.",
    "Was kann ich am Wochenende mit den Kindern unternehmen, wenn es regnet?",
    "Hast du Ideen für ein Geschenk für meine Kollegin zum Abschied?",
]

OPEN_QUESTIONS = [
    "What are the three primary colours?",
    "What are the symptoms of a common cold?",
    "What are black holes made of?",
    "What is the tallest mountain in Africa?",
    "What are the main differences between a crocodile and an alligator?",
    "What are the rules of offside in football?",
    "Why is the sky blue?",
    "How does a refrigerator keep food cold?",
    "What are the planets of the solar system in order?",
    "Who wrote Pride and Prejudice?",
    "What are tectonic plates?",
    "How long does it take light from the sun to reach the earth?",
    "What are the official languages of Switzerland?",
    "What is the difference between weather and climate?",
    "What are antibodies?",
    "When did the Berlin Wall fall?",
    "What are the ingredients of a classic margherita pizza?",
    "How do bees make honey?",
    "What are the stages of a butterfly's life cycle?",
    "What is inflation?",
    "How can you tell if an egg is still fresh?",
    "Where can you see the northern lights in Europe?",
    "How many bones are in the human body?",
    "How many players are on a rugby union team?",
    "Can you freeze cooked rice?",
    "Can dogs eat grapes?",
    "How do I get a replacement passport if mine is stolen abroad?",
    "Where does the river Danube begin?",
    "How long should I boil an egg for a soft yolk?",
    "How can I tell a poisonous mushroom from an edible one?",
    "Where is the oldest university in the world?",
    "How many hours of sleep does a teenager need?",
    "Is it true that goldfish only have a three-second memory?",
    "What happens if you swallow chewing gum?",
]

FORMAT_REWRITE = [
    "Rewrite this sentence so it sounds more polite: Send me the report now.",
    "Make this paragraph easier to read for a 10 year old: Photosynthesis is the process by which green plants use sunlight to synthesise nutrients from carbon dioxide and water.",
    "Can you rephrase this so it's less formal? We regret to inform you that your application was unsuccessful.",
    "Turn this list into a single sentence: eggs, milk, bread, butter.",
    "Rewrite the following in the passive voice: The committee approved the budget.",
    "Please fix the grammar in this: me and him goes to the store yesterday and buyed apples.",
    "Reword this email so it sounds friendlier: Your invoice is late. Pay it.",
    "Change this text to British spelling: The color of the center aisle was gray.",
    "Put these notes into full sentences: meeting moved tues, bring laptop, lunch provided.",
    "Rewrite this tweet to be more professional: omg our new app is sooo good u have to try it",
    "Paraphrase this sentence: The early bird catches the worm.",
    "Convert this to bullet points: We need to book the venue, order food, and send invitations by Friday.",
    "Make this shorter without losing meaning: I am writing to you today in order to let you know that I will not be able to attend.",
    "Rewrite this in the first person: She walked to the station and waited for the train.",
    "Correct the spelling: Thier resturant was definately the best in town.",
    "Can you make this sound more confident? I think maybe we could possibly try a new approach.",
]

# Personas and role-play are writing (tier2) even when phrased as a question; estimates and logic puzzles
# that ask for the reasoning are maths (multi-step reasoning). Added after the fourth round's outside set
# showed, at category level only, role-play and estimation questions read as open questions.
WRITING = [
    "Pretend you are a pirate captain and tell your crew why we must sail tonight.",
    "You are a tour guide in ancient Rome. Welcome our group and describe what we will see.",
    "Imagine you're a cat watching your owner work from home all day. Describe your day.",
    "How would a Victorian butler greet guests arriving at a ball? Write his welcome.",
    "Act as a grumpy wizard who has lost his spell book and is asking the village for help.",
    "As a famous chef, introduce your new restaurant's tasting menu to the press.",
    "If you were a tree that had stood in a city park for 200 years, what would you tell people?",
    "Play the role of a detective explaining to the suspects how the cake went missing.",
    "Write a diary entry from the point of view of an astronaut on her first day on Mars.",
    "Can you write a bedtime story about a dragon who is afraid of the dark?",
    "Could you write a short poem about autumn in the city?",
    "Can you write a funny speech for my sister's wedding? She's a vet and loves hiking.",
    "Describe a sunset over the sea as a poet would.",
    "Respond as Sherlock Holmes would to a client who has lost her umbrella.",
    "Write a monologue for a villain who thinks he is the hero.",
    "Tell me a short story that begins with a phone ringing at 3 a.m.",
]

MATHS = [
    "Roughly how many piano tuners are there in Chicago? Walk me through your estimate.",
    "How many tennis balls would fit in a school bus? Explain your reasoning step by step.",
    "Estimate how much water a person drinks in a lifetime, and show how you got there.",
    "Four friends sit in a row. Anna is not next to Ben, Carl is at one end, and Dora sits right of Anna. Who sits where?",
    "If all bloops are razzies and some razzies are lazzies, can we conclude that some bloops are lazzies? Explain.",
    "A train leaves at 3 pm at 80 km/h and another at 4 pm at 100 km/h on the same track. When does the second catch up?",
    "What is the probability of getting at least one six in four rolls of a die?",
    "Three boxes are labelled apples, oranges and mixed, and all labels are wrong. How many fruits must you pick to fix the labels?",
    "If it takes 5 machines 5 minutes to make 5 widgets, how long do 100 machines take to make 100 widgets?",
    "Estimate how many leaves are on a large oak tree and explain each assumption.",
    "Estimate the number of words a typical person speaks in a year; reason it out step by step.",
]

SUMMARY_ASKS_BEFORE = [
    "Can you summarize this for me?",
    "What's the main point of this text? Keep it short.",
    "Could you boil this down to a couple of sentences?",
    "Summarise the following article for my newsletter.",
    "I don't have time to read this, what does it say in a nutshell?",
    "Sum this up in one line:",
    "Give me the key takeaways from this:",
    "Write a short abstract of this text.",
    "Please recap this in three bullet points.",
    "Can you give me a summary of this passage in simple English?",
    "Fass den folgenden Text kurz zusammen.",
    "Briefly, what is this paragraph saying?",
]

SUMMARY_ASKS_AFTER = [
    "Can you summarize that?",
    "What's the short version of this?",
    "Summarize the text above in under 50 words.",
    "Give me a quick summary of what I just pasted.",
    "What are the main points here, in brief?",
    "Please condense this into a short paragraph.",
    "tl;dr?",
    "Summarize this in a way a child would understand.",
]


def examples(pair_train: list[dict]) -> list[dict]:
    """The hand-written requests, summary asks joined to passages of the training split."""
    rng = random.Random(SEED)
    rows = [{"text": text, "task_type": "brainstorming"} for text in BRAINSTORMING]
    rows += [{"text": text, "task_type": "open_question"} for text in OPEN_QUESTIONS]
    rows += [{"text": text, "task_type": "format_rewrite"} for text in FORMAT_REWRITE]
    rows += [{"text": text, "task_type": "writing"} for text in WRITING]
    rows += [{"text": text, "task_type": "maths"} for text in MATHS]
    pool = passages(pair_train)
    # One passage per ask: the phrasing is what is new here; more passages under "summary" taught the
    # head that any long text is a summary (passage_examples already pairs passages with all three asks).
    for ask in SUMMARY_ASKS_BEFORE:
        rows.append({"text": f"{ask}\n\n{rng.choice(pool)}", "task_type": "summary"})
    for ask in SUMMARY_ASKS_AFTER:
        rows.append({"text": f"{rng.choice(pool)}\n\n{ask}", "task_type": "summary"})
    return rows
