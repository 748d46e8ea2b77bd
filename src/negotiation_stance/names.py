"""Person names replaced by one placeholder (``data.mask_names``), so a model cannot tie stance to names.

The corpus is synthetic and its people are invented; real statements are full
of real names. Masking both keeps the model from learning who says what.
No offline English NER installs from PyPI alone (spaCy's models come from
GitHub; the PyPI copies are unofficial re-uploads; ``gender-guesser`` is GPLv3
and unmaintained since 2016), so this is a documented heuristic over
capitalised runs (maximal sequences of capitalised words, name particles
inside). A run is a person when

(a) it follows a title or honorific (``President``, ``Foreign Minister``,
    ``Mr.``): the title stays, ``President [PERSON] said``;
(b) it starts with a given name of the team's lexicon and has 2+ words;
(c) it is the subject of a speech verb (``Kirby said``, ``said Kirby``,
    ``according to Kirby``, ``Kebede, a political scientist, said``, a
    transcript's ``Hrytsenko: ...``) or a possessive before a role
    (``Macron's office``);
(d) it holds a word of a run masked earlier in the same text (a surname alone
    after the full name), or a well-known political surname (general knowledge).

Words of the gazetteer (countries, capitals, regions, demonyms, organisations,
institutions, days, months, titles and common sentence-initial words) are never
part of a run, and neither are all-capital acronyms (``NATO``, the placeholder
itself), so masking is idempotent. Texts are masked one at a time (a sentence):
(d) does not reach across sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

PLACEHOLDER = "[PERSON]"


def _words(text: str) -> frozenset[str]:
    """A word list written as prose: readable, and one diff line per line of words."""
    return frozenset(text.split())


# Titles and honorifics after which a capitalised run is a person (lower case, trailing "." dropped).
TITLES = _words(
    """president vice-president minister secretary secretary-general ambassador spokesperson spokesman spokeswoman
    chancellor vice-chancellor king queen prince princess crown sheikh emir sultan mr mrs ms miss dr general gen
    colonel col lieutenant lt major maj captain capt commander admiral adm sergeant sgt brigadier marshal
    field-marshal senator sen representative rep congressman congresswoman governor gov mayor judge justice pope
    father sister brother cardinal archbishop bishop rabbi imam ayatollah mullah envoy premier chairman chairwoman
    chair chairperson director professor prof superintendent inspector lord lady sir dame baroness baron
    commissioner negotiator adviser advisor aide diplomat official leader speaker councillor councilor deputy
    president-elect prime-minister foreign-minister head mediator rapporteur coordinator dear assistant""")  # fmt: skip
SPEECH_VERBS = _words(
    """said says say told tells added adds stressed stresses noted notes warned warns insisted insists argued argues
    declared declares stated states wrote writes reiterated reiterates explained explains claimed claims announced
    announces asserted asserts emphasized emphasised emphasizes emphasises underlined acknowledged acknowledges
    suggested suggests replied replies responded responds continued concluded urged urges called calls tweeted
    posted posts recalled admitted conceded countered cautioned predicted pledged vowed promised repeated remarked
    observed commented confirmed denied rejected dismissed welcomed praised hailed accused maintained contended
    indicated signalled signaled proposed demanded""")  # fmt: skip
# Verbs whose subject may follow them ("..., said Kirby."); not "told": "told Reuters" names the listener.
_INVERSION_VERBS = _words(
    "said says added adds wrote writes stressed noted warned insisted argued explained continued concluded replied "
    "responded recalled remarked observed commented asked"
)
# Words that may stand between a subject and its speech verb: "Kirby also said", "Blinken has repeatedly warned".
_BETWEEN = _words("also later earlier then again has had have would will repeatedly once further publicly")
# Roles after a possessive: "Macron's office", "Putin's spokesman".
_POSSESSED = _words(
    """spokesman spokeswoman spokesperson office government administration adviser advisers advisor aide aides
    party allies ally envoy camp team cabinet regime cabinet chief press lawyer lawyers campaign son daughter wife
    husband family successor predecessor deputy critics supporters foreign""")  # fmt: skip
# Lower-case parts of a name between capitalised words: "Ruud van der Berg", "Ana Lucía de la Cruz".
_PARTICLES = _words("al el bin ibn bint van von der den de del della di da dos das du la le ter ben abu")

# A given-name lexicon the team wrote: common first names in international news, many cultures. Words
# that are also ordinary English (May, Will, Grant, Hope) are left out: their run needs no name to start it.
GIVEN_NAMES = _words(
    """aaron abdul abdullah abdel abel abiy adam adama adel adrian ahmad ahmed aisha akira alan alberto aleksandr
    aleksei alex alexander alexandra alexei alexis alfonso ali alice alicia alina alison amina amir amira ana anatoly
    anders andre andrea andreas andrei andres andrew andrzej angela angelo ani anita anja anjali ann anna anne
    annika anthony antonio antony anwar arkady armen arnold arsen artem arthur asif astrid aung aurelio ayman ayse
    bakhyt barbara barack basim beata beatriz ben benjamin bernard bilal bogdan boris brian bruno carl carla carlos
    carmen caroline catherine cecilia charles charlotte chen christian christine christopher claudia colin daniel
    daniela dalia dana david denis dennis diana diego dmitri dmitry dmytro dolores dominic donald dragan edward
    elena elif elizabeth elnur emmanuel emma emily enrique eric erik ernesto eva fabio farid fatima federico felipe
    fernando francesca francesco francisco frank franz friedrich gabriel gaston george georgi gerhard giorgi
    giorgia giovanni giulio giuseppe gloria gregory gustavo halyna hamid han hans hassan heinrich helen helena
    henrik henry hiroshi hossam hussein ibrahim igor ilham ilya ingrid irina isabel isabella ivan jacob jaime james
    jan jane janet javier jean jeffrey jens jeremy jessica jiang joachim joan joanna joao johan johannes john jonas
    jorge jose josef joseph juan julia julian juliana julie jurgen kamal karim karin karl katarzyna katrin kenji
    kevin khalid khalil kim klaus kofi kristina kwame lars laura lea leah leila leonid li liina lilit linda liu
    lorenzo louis luca lucia lucas luis lukas luiz maciej mahmoud manuel marc marco marcus margaret margarita maria
    mariam mariana marie marina mario mark marta martin mary maryam masood matteo matthew maxim mehmet mei michael
    michel miguel mikhail miriam mohamed mohammad mohammed muhammad nadia naledi nasrin natalia natalya nataliya
    nathalie nenad nicolas nikolai nikolay nina noor nuno olaf olena oleg oleksandr oleksii olga omar oscar oksana
    pablo paolo patricia patrice paul paula pavel pedro peter petr petro philip pierre piotr rafael rami ramil
    raul rebecca recep ricardo richard robert roberto rodrigo roman ruslan ryan salem salim samir samuel sara
    sarah sebastian selin serge sergei sergey sergio sevinj shinzo simon sofia sophie stefan stephen steven sven
    tamara tatiana tatyana thabo thomas timothy tobias tomas ursula valentina valery vasyl vera viktor vikram
    vladimir vladislav volodymyr walter wang wei william xavier yaroslav yasmin yosef youssef yuri yulia yusuf
    zhang zoran""")  # fmt: skip
# Surnames of political figures that real news names without title or verb (general knowledge, no data set).
WELL_KNOWN_SURNAMES = _words(
    """putin zelensky zelenskyy zelenskiy biden trump obama blinken sullivan kirby austin harris rubio vance witkoff
    guterres lavrov peskov shoigu medvedev zakharova nebenzia ushakov kuleba sybiha yermak podolyak zaluzhny
    syrskyi stoltenberg rutte macron scholz merz starmer sunak meloni orban erdogan erdoğan fidan netanyahu
    gallant abbas haniyeh sinwar lula modi jaishankar ramaphosa lukashenko kadyrov prigozhin navalny borrell
    kallas leyen michel costa tusk sikorski duda nauseda stubb niinisto kristersson xi wang sisi salman
    khamenei raisi pezeshkian araghchi assad sharaa aliyev pashinyan burhan hemedti kagame tshisekedi ruto
    abiy tinubu milei maduro petro bukele kishida ishiba yoon lee kim jong""")  # fmt: skip

# Never a person: countries, capitals and cities, regions, demonyms, organisations and institutions,
# titles and roles, days, months, and words that start sentences. Compared in lower case.
_PLACES = _words(
    """afghanistan albania algeria andorra angola argentina armenia australia austria azerbaijan bahamas bahrain
bangladesh barbados belarus belgium belize benin bhutan bolivia bosnia herzegovina botswana brazil brunei bulgaria
burkina faso burundi cambodia cameroon canada chad chile china colombia comoros congo croatia cuba cyprus czechia
czech denmark djibouti dominica ecuador egypt eritrea estonia eswatini ethiopia fiji finland france gabon gambia
georgia germany ghana greece grenada guatemala guinea guyana haiti honduras hungary iceland india indonesia iran
iraq ireland israel italy jamaica japan jordan kazakhstan kenya kiribati kosovo kuwait kyrgyzstan laos latvia
lebanon lesotho liberia libya liechtenstein lithuania luxembourg madagascar malawi malaysia maldives mali malta
mauritania mauritius mexico micronesia moldova monaco mongolia montenegro morocco mozambique myanmar burma namibia
nauru nepal netherlands holland nicaragua niger nigeria macedonia norway oman pakistan palau palestine panama
paraguay peru philippines poland portugal qatar romania russia rwanda samoa senegal serbia seychelles singapore
slovakia slovenia somalia somaliland spain sudan suriname sweden switzerland syria taiwan tajikistan tanzania
thailand togo tonga trinidad tobago tunisia turkey türkiye turkiye turkmenistan tuvalu uganda ukraine uruguay
uzbekistan vanuatu vatican venezuela vietnam yemen zambia zimbabwe britain england scotland wales america
europe asia africa antarctica arctic oceania eurasia balkans caucasus sahel maghreb levant scandinavia baltics
kabul tirana algiers luanda yerevan canberra vienna baku manama dhaka minsk brussels sarajevo gaborone brasilia
brasília ouagadougou gitega bujumbura yaounde ottawa santiago beijing bogota bogotá kinshasa brazzaville
zagreb havana nicosia prague copenhagen cairo asmara tallinn addis ababa suva helsinki paris libreville banjul
tbilisi berlin accra athens conakry bissau georgetown tegucigalpa budapest reykjavik delhi jakarta tehran baghdad
dublin jerusalem rome kingston tokyo amman astana nairobi pristina kuwait bishkek vientiane riga beirut maseru
monrovia tripoli vilnius antananarivo lilongwe kuala lumpur bamako valletta nouakchott chisinau ulaanbaatar
podgorica rabat maputo naypyidaw yangon windhoek kathmandu amsterdam hague wellington managua niamey abuja lagos
korea koreas emirate
pyongyang skopje oslo muscat islamabad karachi lahore ramallah panama asuncion lima manila warsaw lisbon doha
bucharest moscow kigali riyadh jeddah dakar belgrade freetown ljubljana mogadishu pretoria johannesburg seoul
juba madrid colombo khartoum omdurman stockholm bern geneva zurich damascus aleppo idlib taipei dushanbe dodoma
bangkok lome tunis ankara istanbul ashgabat kampala kyiv kiev kharkiv odesa odessa lviv dnipro mariupol bakhmut
avdiivka kherson zaporizhzhia zaporizhia donetsk luhansk donbas donbass crimea sevastopol belgorod kursk
montevideo tashkent caracas hanoi sanaa aden hodeidah lusaka harare london washington york moscow munich davos
hamburg frankfurt bonn milan naples barcelona marseille lyon strasbourg luxembourg vienna salzburg krakow gdansk
gaza rafah khan yunis jenin hebron nablus golan sinai tigray mekelle amhara oromia darfur kordofan kashmir
karabakh nagorno artsakh stepanakert abkhazia ossetia transnistria tiraspol mitrovica xinjiang tibet hong kong
macau shanghai guangzhou shenzhen mumbai kolkata chennai osaka hiroshima sochi petersburg st stalingrad volgograd
novorossiysk chechnya grozny dagestan siberia kaliningrad belarusian gomel brest pripyat chernobyl chernihiv
sumy kupiansk pokrovsk vuhledar severodonetsk melitopol berdyansk mykolaiv vinnytsia poltava zhytomyr rivne
uzhhorod bucha irpin hostomel borodianka kerch azov dnipro black mediterranean baltic caspian red adriatic
aegean nile euphrates tigris jordan danube volga rhine sahara persian gulf bosphorus hormuz bab mandeb strait
erbil kirkuk mosul basra homs latakia tartus raqqa deir ezzor hasakah afrin kobani manbij quneitra daraa
marib taiz mukalla tripoli benghazi misrata sirte tobruk goma bukavu bunia beni kisangani lubumbashi mombasa
kismayo bosaso hargeisa lalibela gondar bahir dar djibouti port sudan kassala kadugli el fasher nyala geneina
minneapolis chicago boston los angeles san francisco miami texas california florida virginia maryland
oval crimean western eastern northern southern central south north east west new upper lower greater"""
)
_DEMONYMS = _words(
    """afghan albanian algerian american angolan argentine argentinian armenian australian austrian azerbaijani
azeri bahraini bangladeshi belarusian belgian bolivian bosnian brazilian british bulgarian burmese cambodian
cameroonian canadian chadian chilean chinese colombian congolese croatian cuban cypriot czech danish dutch
ecuadorian egyptian emirati eritrean estonian ethiopian european filipino finnish french georgian german ghanaian
greek guatemalan haitian honduran hungarian icelandic indian indonesian iranian iraqi irish israeli italian
ivorian jamaican japanese jordanian kazakh kenyan korean kosovar kosovan kurdish kuwaiti kyrgyz lao latvian
lebanese liberian libyan lithuanian malaysian malian maltese mauritanian mexican moldovan mongolian montenegrin
moroccan mozambican namibian nepali nigerian nigerien norwegian omani pakistani palestinian panamanian
paraguayan peruvian polish portuguese qatari romanian russian rwandan saudi scottish senegalese serbian slovak
slovenian somali spanish sudanese swedish swiss syrian taiwanese tajik tanzanian thai tunisian turkish
turkmen ugandan ukrainian uruguayan uzbek venezuelan vietnamese yemeni zambian zimbabwean african asian arab
arabic persian western eastern northern southern latin nordic baltic balkan caucasian soviet tigrayan
amhara oromo houthi sunni shia shiite alawite druze christian muslim jewish catholic orthodox islamic
english welsh emirati gulf transatlantic"""
)
_ORGANISATIONS = _words(
    """un nato eu osce oas asean brics au ecowas igad sadc eac caricom celac opec g7 g20 iaea icrc who wto
imf kremlin pentagon white house downing elysee élysée quai orsay bundestag bundesrat duma rada verkhovna knesset
majlis congress senate parliament government cabinet administration presidency ministry ministries office
department state states agency court tribunal council assembly commission committee union nations organization
organisation federation confederation republic kingdom emirates islands coalition alliance party parties
platform front movement forces force army navy air guard guards brigade battalion regiment militia hamas
hezbollah hizbollah taliban houthis ansar allah wagner isis isil daesh qaeda shabaab m23 rsf saf pkk ypg sdf
fatah plo idf reuters afp ap tass interfax ria novosti xinhua bbc cnn bloomberg axios politico telegram twitter
facebook instagram youtube x times post journal press news media network channel radio television tv daily
today agency embassy embassies consulate mission delegation secretariat bank fund group company corporation
institute university foundation initiative red cross crescent vatican holy see security affairs foreign defence
defense interior justice finance economy trade national international special permanent representative
high supreme federal central general chief senior deputy vice acting former interim transitional presidential
executive legislative military civil civilian joint united unity peace talks summit conference forum process
plan formula agreement accord accords treaty declaration charter protocol resolution ceasefire truce
memorandum framework roadmap road map format minsk normandy istanbul geneva astana doha jeddah camp
dayton oslo war day week month year anniversary christmas easter ramadan eid god allah covid internet
bureau board centre center service services authority authorities association society
street square palace hall building avenue road bridge river sea ocean gulf bay strait region province oblast
district city capital county territory territories zone corridor border line front frontline"""
)
_TIME = _words(
    """monday tuesday wednesday thursday friday saturday sunday january february march april may june july august
september october november december spring summer autumn winter"""
)
_COMMON = _words(
    """the a an but and or nor so yet in on at for from with without within after before during since until
till while when where why how what which who whom whose that this these those there here it its he she they we
i you his her their our my your him them us me no not if as although though because despite however meanwhile
moreover nevertheless nonetheless still also later earlier then now today tomorrow yesterday both all some many
most few several each every any none one two three four five other others another such only even just once
again instead indeed finally first second third last next asked speaking according separately elsewhere overall
thus hence therefore otherwise perhaps maybe yes let please thank thanks dear ladies gentlemen excellency
excellencies colleagues friends sir madam officials official diplomats diplomat analysts critics observers
experts sources witnesses residents leaders leader lawmakers legislators negotiators negotiator mediators
ministers authorities police rebels rebel troops soldiers protesters activists researchers spokesmen aides
advisers allies partners governments officers commanders delegates envoys representatives members people
citizens voters sides everyone nobody someone anyone nothing everything something neither either whether
under over above below between among against toward towards into onto upon via per about across along around
beyond despite unlike like talks negotiations dialogue diplomacy ceasefire peace war fighting hostilities
conflict statement statements report reports sanctions aid humanitarian president minister secretary
ambassador spokesperson spokesman spokeswoman chancellor prime foreign vice mr mrs ms dr pro anti non
post pre ex self co note update question answer correction editor background context summary breaking
look listen well see whoever whatever participants contacts exchanges measures member
responsible debate staff live watch read exclusive analysis opinion interview transcript moderator source"""
)
NOT_NAMES = frozenset(
    w.lower()
    for w in (
        *_PLACES,
        *_DEMONYMS,
        *_ORGANISATIONS,
        *_TIME,
        *_COMMON,
        *TITLES,
        *(w + "s" for w in (*_DEMONYMS, *TITLES)),
    )
)
# Places and bodies of several words whose parts could pass for names ("Addis Ababa", "Abu Dhabi").
PROTECTED_PHRASES = (
    "Abu Dhabi", "Tel Aviv", "Addis Ababa", "Buenos Aires", "Rio de Janeiro", "Sao Paulo", "São Paulo",
    "Cape Town", "Phnom Penh", "Port Moresby", "Port-au-Prince", "Santo Domingo", "San Salvador", "El Salvador",
    "Costa Rica", "Sri Lanka", "Saudi Arabia", "Burkina Faso", "Sierra Leone", "Ivory Coast", "Côte d'Ivoire",
    "Abu Ghraib", "Deir ez-Zor", "Bab el-Mandeb", "Sharm el-Sheikh", "Dar es Salaam", "Ras Lanuf", "Al Jazeera",
    "Al-Jazeera", "Al Arabiya", "Al-Qaeda", "Al Qaeda", "al-Shabaab", "Ansar Allah", "Islamic Jihad",
    "Muslim Brotherhood", "Rapid Support Forces", "Lake Chad", "Mar-a-Lago", "Camp David", "Good Friday",
)  # fmt: skip

_CONTRACTION = re.compile(r"['’](?:m|d|ll|re|ve|t)$")  # "I'm", "We've", "Don't"
_APPOSITIVE = re.compile(r",\s+(?:a|an|who|whose)\s")
_WORD = re.compile(r"[^\W\d_](?:[\w'’-]*[^\W_])?")
_POSSESSIVE = re.compile(r"['’]s?$")


@dataclass
class _Token:
    start: int
    end: int
    text: str

    @property
    def bare(self) -> str:
        """The word without a possessive ending ("Putin's" -> "Putin")."""
        return _POSSESSIVE.sub("", self.text) if self.text[-2:] in ("'s", "’s") else self.text

    @property
    def possessive(self) -> bool:
        return self.text != self.bare


@lru_cache(maxsize=1)
def _protected_re() -> re.Pattern[str]:
    phrases = sorted(PROTECTED_PHRASES, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b")


def _is_name_word(token: _Token) -> bool:
    """A capitalised word that may be part of a name: not all capitals, not a gazetteer or title word."""
    word = token.bare
    if re.match(r"^(?:al|el|ad|as|ash|at|ar|an|ul)-[^\W\d_]", word):  # "al-Radmi"
        return word.split("-", 1)[1][:1].isupper()
    if not word[:1].isupper() or not any(c.islower() for c in word) or _CONTRACTION.search(word):
        return False
    lower = word.lower()
    return lower not in NOT_NAMES and lower.split("-")[0] not in NOT_NAMES


def _runs(text: str, tokens: list[_Token]) -> list[list[int]]:
    """Maximal runs of name words (token indices), joined by spaces, initials ("F.") and name particles."""
    protected = [m.span() for m in _protected_re().finditer(text)]
    name = [
        (_is_name_word(t) or (len(t.text) == 1 and t.text.isupper() and text[t.end : t.end + 1] == "."))
        and not any(a <= t.start < b for a, b in protected)
        for t in tokens
    ]
    runs: list[list[int]] = []
    i = 0
    while i < len(tokens):
        if not name[i]:
            i += 1
            continue
        run = [i]
        while not tokens[run[-1]].possessive:
            j = run[-1] + 1
            gap = text[tokens[run[-1]].end : tokens[j].start] if j < len(tokens) else ""
            initial = len(tokens[run[-1]].text) == 1 and gap == ". "
            if j >= len(tokens) or (gap != " " and not initial):
                break
            if name[j]:
                run.append(j)
                continue
            # particles: "van der Berg", "de la Cruz", "bin Salman"
            k = j
            while k < len(tokens) and tokens[k].text in _PARTICLES and text[tokens[k - 1].end : tokens[k].start] == " ":
                k += 1
            if k > j and k < len(tokens) and name[k] and text[tokens[k - 1].end : tokens[k].start] == " ":
                run.extend(range(j, k + 1))
                continue
            break
        # an initial may not end a run
        while len(run) > 1 and len(tokens[run[-1]].text) == 1:
            run.pop()
        if not (len(run) == 1 and len(tokens[run[0]].text) == 1):
            runs.append(run)
        i = run[-1] + 1
    return runs


def _follows_title(text: str, tokens: list[_Token], run: list[int]) -> bool:
    """After a title: "President Putin", "Mr. Sullivan", "its chief negotiator, Mariela Uzcátegui, said"; not
    "SPOKESPERSON: Frankly, ..." (a transcript's speaker label)."""
    first = run[0]
    if first == 0 or tokens[first - 1].text.lower() not in TITLES:
        return False
    gap = text[tokens[first - 1].end : tokens[first].start]
    return gap in (" ", ". ") or (gap == ", " and text[tokens[run[-1]].end :].startswith(","))


def _speech_subject(text: str, tokens: list[_Token], run: list[int]) -> bool:
    """Who speaks: "Kirby said", "Kirby also told", "said Kirby.", "according to Kirby", a transcript's
    "Hrytsenko: ..." and an opening "Elvin Gasimov, a political analyst in Baku, said"."""
    first, last = run[0], run[-1]
    if first > 0 and tokens[first - 1].text.lower() in ("the", "of", "for"):
        return False  # "the Wagner Group said", "the Directorate General of Shipping said": organisations
    if not tokens[last].possessive:
        k = last + 1
        while k < len(tokens) and tokens[k].text.lower() in _BETWEEN:
            k += 1
        if (
            k < len(tokens)
            and tokens[k].text.lower() in SPEECH_VERBS
            and "," not in text[tokens[last].end : tokens[k].start]
        ):
            return True
    if first > 0 and tokens[first - 1].text.lower() in _INVERSION_VERBS:
        rest = text[tokens[last].end :].lstrip()
        return not rest or rest[0] in ".,;:!?”\"'’)"
    if first > 1 and [t.text.lower() for t in tokens[first - 2 : first]] == ["according", "to"]:
        return True
    after = text[tokens[last].end :]
    if first != 0:
        return False
    if after.startswith(":"):
        return True  # an interview transcript: "Hrytsenko: We will never ..."
    # "Hailu Kebede, who teaches ..., said" / "Elvin Gasimov, a political analyst in Baku, said"
    return bool(_APPOSITIVE.match(after)) and any(w in SPEECH_VERBS for w in after.lower().split())


def _possessor(tokens: list[_Token], run: list[int]) -> bool:
    last = run[-1]
    return tokens[last].possessive and last + 1 < len(tokens) and tokens[last + 1].text.lower() in _POSSESSED


def mask_person_names(text: str, placeholder: str = PLACEHOLDER) -> str:
    """``text`` with each person name (a run of words) replaced by ``placeholder``; titles, places and
    organisations stay. See the module docstring for the rules and their limits."""
    tokens = [_Token(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    runs = _runs(text, tokens)
    masked: list[list[int]] = []
    known: set[str] = set()
    rest = []
    for run in runs:
        words = [tokens[i].bare for i in run if tokens[i].text not in _PARTICLES]
        person = (
            _follows_title(text, tokens, run)
            or (len(words) >= 2 and words[0].lower() in GIVEN_NAMES)
            or _speech_subject(text, tokens, run)
            or _possessor(tokens, run)
            or any(w.lower() in WELL_KNOWN_SURNAMES for w in words)
        )
        if person:
            masked.append(run)
            known.update(w.lower() for w in words)
        else:
            rest.append(run)
    # (d) a surname (or given name) of a name masked in the same text, standing alone elsewhere.
    masked += [run for run in rest if any(tokens[i].bare.lower() in known for i in run)]
    out, end = [], len(text)
    for run in sorted(masked, key=lambda r: r[0], reverse=True):
        first, last = tokens[run[0]], tokens[run[-1]]
        suffix = last.text[len(last.bare) :]
        out.append(text[last.end : end])
        out.append(placeholder + suffix)
        end = first.start
    out.append(text[:end])
    return "".join(reversed(out))
