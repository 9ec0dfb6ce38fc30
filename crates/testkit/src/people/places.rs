//! The place tables: the countries a person lives in, their localities with postcodes, regions
//! and telephone areas, their streets, mobile ranges, email providers and companies.
//!
//! Localities carry a weight (roughly their population) so that big cities hold most people and
//! unrelated people share a locality, a postcode area and a street name, as in life.

use super::names::Culture;

/// A country people are generated in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Country {
    Gb,
    Us,
    De,
    Fr,
    Au,
}

/// How a country's postcodes are made.
#[derive(Debug, Clone, Copy)]
pub(super) enum Postcodes {
    /// A British postcode: one of the outward areas, a district `1..=max`, a space and the
    /// inward code (a digit and two letters).
    Gb(&'static [&'static str], u32),
    /// A number in the range, zero-padded to the country's width.
    Range(u32, u32),
    /// One of these numbers, zero-padded to the country's width.
    List(&'static [u32]),
}

/// A town or city.
#[derive(Debug)]
pub(super) struct Locality {
    pub(super) name: &'static str,
    /// The region as usually written: a county, a state's code, a Land, a région.
    pub(super) region: &'static str,
    /// The region's full name where `region` is a code (US and AU states), else `region`.
    pub(super) region_full: &'static str,
    pub(super) postcodes: Postcodes,
    /// Telephone area codes (without the trunk 0); in France and Australia, where the area
    /// is one digit, followed by the subscriber digits the locality's numbers start with.
    pub(super) areas: &'static [&'static str],
    /// The digits a landline subscriber number may start with (empty in the US, whose
    /// exchange codes follow their own rule).
    pub(super) leads: &'static str,
    /// Relative share of the country's people living there.
    pub(super) weight: u32,
}

/// A street type: full form, abbreviation (empty when it has none) and weight.
pub(super) type StreetType = (&'static str, &'static str, u32);

impl Country {
    /// Every country, in a fixed order.
    pub(super) const ALL: [Country; 5] = [
        Country::Gb,
        Country::Us,
        Country::De,
        Country::Fr,
        Country::Au,
    ];

    /// Share of generated people living in each country, in the order of [`Country::ALL`].
    pub(super) const WEIGHTS: [u32; 5] = [25, 30, 15, 15, 15];

    /// The ISO 3166-1 alpha-2 code.
    pub(super) fn code(self) -> &'static str {
        match self {
            Country::Gb => "GB",
            Country::Us => "US",
            Country::De => "DE",
            Country::Fr => "FR",
            Country::Au => "AU",
        }
    }

    /// The international calling code.
    pub(super) fn calling_code(self) -> &'static str {
        match self {
            Country::Gb => "44",
            Country::Us => "1",
            Country::De => "49",
            Country::Fr => "33",
            Country::Au => "61",
        }
    }

    /// Digits of a zero-padded postcode (British postcodes are not numbers).
    pub(super) fn postcode_width(self) -> usize {
        match self {
            Country::Au => 4,
            _ => 5,
        }
    }

    /// Weights of the naming cultures, in the order of [`Culture::ALL`].
    pub(super) fn cultures(self) -> [u32; Culture::ALL.len()] {
        // English, German, French, Spanish, Italian, Dutch, Nordic, Indian, Chinese, Japanese.
        match self {
            Country::Gb => [70, 3, 3, 3, 3, 2, 2, 9, 3, 2],
            Country::Us => [56, 5, 2, 18, 5, 2, 2, 4, 4, 2],
            Country::De => [4, 78, 3, 2, 4, 3, 3, 1, 1, 1],
            Country::Fr => [3, 3, 80, 5, 5, 1, 1, 1, 1, 0],
            Country::Au => [68, 2, 1, 2, 6, 2, 2, 6, 9, 2],
        }
    }

    /// The country's localities.
    pub(super) fn localities(self) -> &'static [Locality] {
        match self {
            Country::Gb => GB_LOCALITIES,
            Country::Us => US_LOCALITIES,
            Country::De => DE_LOCALITIES,
            Country::Fr => FR_LOCALITIES,
            Country::Au => AU_LOCALITIES,
        }
    }

    /// Street types: suffixes (GB, US, AU: "Baker Street"; DE: attached, "Hauptstraße") or
    /// prefixes (FR: "Rue de la Paix").
    pub(super) fn street_types(self) -> &'static [StreetType] {
        match self {
            Country::Gb => &[
                ("Street", "St", 35),
                ("Road", "Rd", 30),
                ("Lane", "Ln", 8),
                ("Avenue", "Ave", 8),
                ("Close", "Cl", 5),
                ("Drive", "Dr", 5),
                ("Gardens", "Gdns", 3),
                ("Crescent", "Cres", 3),
                ("Place", "Pl", 3),
                ("Way", "", 3),
                ("Terrace", "Terr", 2),
                ("Court", "Ct", 2),
            ],
            Country::Us => &[
                ("Street", "St", 30),
                ("Avenue", "Ave", 22),
                ("Road", "Rd", 10),
                ("Drive", "Dr", 10),
                ("Lane", "Ln", 6),
                ("Boulevard", "Blvd", 5),
                ("Court", "Ct", 5),
                ("Place", "Pl", 4),
                ("Way", "", 4),
                ("Parkway", "Pkwy", 2),
                ("Circle", "Cir", 2),
                ("Terrace", "Ter", 1),
            ],
            Country::Au => &[
                ("Street", "St", 40),
                ("Road", "Rd", 20),
                ("Avenue", "Ave", 10),
                ("Drive", "Dr", 8),
                ("Crescent", "Cres", 6),
                ("Parade", "Pde", 5),
                ("Court", "Ct", 4),
                ("Place", "Pl", 4),
                ("Lane", "La", 3),
                ("Terrace", "Tce", 2),
                ("Highway", "Hwy", 2),
                ("Close", "Cl", 2),
            ],
            Country::De => &[
                ("straße", "str.", 55),
                ("weg", "", 18),
                ("allee", "", 6),
                ("ring", "", 5),
                ("platz", "", 5),
                ("gasse", "", 4),
                ("damm", "", 3),
            ],
            Country::Fr => &[
                ("Rue", "R.", 50),
                ("Avenue", "Av.", 15),
                ("Boulevard", "Bd", 8),
                ("Allée", "All.", 6),
                ("Chemin", "Ch.", 6),
                ("Place", "Pl.", 5),
                ("Impasse", "Imp.", 5),
                ("Route", "Rte", 3),
                ("Quai", "", 2),
            ],
        }
    }

    /// Street names, most common first.
    pub(super) fn street_names(self) -> &'static [&'static str] {
        match self {
            Country::Gb | Country::Us | Country::Au => ENGLISH_STREETS,
            Country::De => GERMAN_STREETS,
            Country::Fr => FRENCH_STREETS,
        }
    }

    /// Mobile ranges: the first digits of the national significant number, and its length.
    pub(super) fn mobile_ranges(self) -> &'static [(&'static str, usize)] {
        match self {
            Country::Gb => &[
                ("740", 10),
                ("741", 10),
                ("743", 10),
                ("747", 10),
                ("748", 10),
                ("749", 10),
                ("751", 10),
                ("753", 10),
                ("754", 10),
                ("771", 10),
                ("772", 10),
                ("773", 10),
                ("775", 10),
                ("776", 10),
                ("777", 10),
                ("780", 10),
                ("781", 10),
                ("784", 10),
                ("790", 10),
                ("792", 10),
                ("794", 10),
                ("795", 10),
                ("796", 10),
                ("797", 10),
                ("798", 10),
            ],
            // American mobiles share the geographic area codes: see `Locality::areas`.
            Country::Us => &[],
            Country::De => &[
                ("151", 11),
                ("152", 11),
                ("157", 11),
                ("160", 10),
                ("170", 10),
                ("171", 10),
                ("172", 10),
                ("173", 10),
                ("175", 10),
                ("176", 11),
                ("177", 11),
                ("178", 11),
                ("179", 11),
            ],
            Country::Fr => &[
                ("60", 9),
                ("61", 9),
                ("62", 9),
                ("64", 9),
                ("65", 9),
                ("66", 9),
                ("67", 9),
                ("68", 9),
                ("73", 9),
                ("75", 9),
                ("76", 9),
                ("77", 9),
                ("78", 9),
            ],
            Country::Au => &[
                ("40", 9),
                ("41", 9),
                ("42", 9),
                ("43", 9),
                ("450", 9),
                ("451", 9),
                ("452", 9),
                ("454", 9),
                ("455", 9),
                ("456", 9),
                ("457", 9),
                ("458", 9),
                ("459", 9),
                ("470", 9),
                ("472", 9),
                ("473", 9),
                ("474", 9),
                ("475", 9),
                ("476", 9),
                ("477", 9),
                ("478", 9),
                ("480", 9),
                ("481", 9),
                ("482", 9),
                ("484", 9),
                ("485", 9),
                ("486", 9),
                ("487", 9),
                ("488", 9),
                ("489", 9),
            ],
        }
    }

    /// Email providers and their weights.
    pub(super) fn email_providers(self) -> &'static [(&'static str, u32)] {
        match self {
            Country::Gb => &[
                ("gmail.com", 35),
                ("hotmail.co.uk", 15),
                ("outlook.com", 12),
                ("yahoo.co.uk", 10),
                ("btinternet.com", 8),
                ("icloud.com", 6),
                ("sky.com", 4),
                ("live.co.uk", 4),
            ],
            Country::Us => &[
                ("gmail.com", 45),
                ("yahoo.com", 15),
                ("outlook.com", 10),
                ("hotmail.com", 10),
                ("icloud.com", 10),
                ("aol.com", 6),
                ("comcast.net", 4),
            ],
            Country::De => &[
                ("gmail.com", 25),
                ("web.de", 25),
                ("gmx.de", 22),
                ("t-online.de", 12),
                ("outlook.de", 6),
                ("yahoo.de", 4),
                ("posteo.de", 3),
            ],
            Country::Fr => &[
                ("gmail.com", 35),
                ("orange.fr", 18),
                ("hotmail.fr", 12),
                ("free.fr", 10),
                ("yahoo.fr", 8),
                ("laposte.net", 8),
                ("sfr.fr", 6),
                ("outlook.fr", 3),
            ],
            Country::Au => &[
                ("gmail.com", 40),
                ("bigpond.com", 15),
                ("outlook.com", 10),
                ("hotmail.com", 10),
                ("yahoo.com.au", 10),
                ("icloud.com", 8),
                ("optusnet.com.au", 5),
            ],
        }
    }

    /// Employers (invented): a name and the domain of its email addresses.
    pub(super) fn companies(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Country::Gb => &[
                ("Harbourside Logistics Ltd", "harbourside-logistics.co.uk"),
                ("Thornbury & Gale LLP", "thornburygale.co.uk"),
                ("Redbrick Software Ltd", "redbricksoftware.co.uk"),
                ("Pennine Building Society", "pennine-bs.co.uk"),
                ("Clarke & Sons Plumbing", "clarkeandsons.co.uk"),
                ("Albion Health Partners", "albionhealth.co.uk"),
                ("Northgate Accountants", "northgate-accountants.co.uk"),
                ("Meridian Insurance plc", "meridian-insurance.co.uk"),
                ("Bluebell Nurseries", "bluebellnurseries.co.uk"),
                ("Kestrel Engineering Ltd", "kestrel-eng.co.uk"),
                ("St Aldhelm's School", "staldhelms.sch.uk"),
                ("Oakwood Dental Practice", "oakwooddental.co.uk"),
            ],
            Country::Us => &[
                ("Summit Ridge Capital LLC", "summitridgecap.com"),
                ("Lakeshore Medical Group", "lakeshoremed.com"),
                ("Ironwood Construction Inc.", "ironwoodbuilds.com"),
                ("Pinecrest Software", "pinecrestsw.com"),
                ("Golden Gate Realty", "ggrealty-sf.com"),
                ("Maple & Finch Law", "maplefinchlaw.com"),
                ("Redstone Logistics Corp.", "redstonelogistics.com"),
                ("Bright Path Schools", "brightpathschools.org"),
                ("Cedar Valley Bank", "cedarvalleybank.com"),
                ("Hudson Analytics", "hudsonanalytics.io"),
                ("Prairie Wind Energy", "prairiewind-energy.com"),
                ("Bayside Dental Associates", "baysidedental.com"),
            ],
            Country::De => &[
                ("Nordlicht Maschinenbau GmbH", "nordlicht-maschinenbau.de"),
                ("Becker & Söhne KG", "becker-soehne.de"),
                ("Rheinwerk Logistik GmbH", "rheinwerk-logistik.de"),
                ("Alpenblick Versicherung AG", "alpenblick-versicherung.de"),
                ("Hansen IT-Beratung", "hansen-it.de"),
                ("Stadtwerke Lindenau", "sw-lindenau.de"),
                ("Praxis Dr. Weber", "praxis-weber.de"),
                ("Elbtal Bau GmbH", "elbtal-bau.de"),
                ("Kaiser Steuerberatung", "kaiser-stb.de"),
                ("Sonnenfeld Solar GmbH", "sonnenfeld-solar.de"),
            ],
            Country::Fr => &[
                ("Atelier Dubois SARL", "atelier-dubois.fr"),
                ("Groupe Lumière SA", "groupe-lumiere.fr"),
                ("Boulangerie Martin", "boulangerie-martin.fr"),
                ("Transports Garnier", "transports-garnier.fr"),
                ("Cabinet Rousseau Avocats", "rousseau-avocats.fr"),
                ("Mutuelle du Littoral", "mutuelle-littoral.fr"),
                ("Clinique Saint-Roch", "clinique-saintroch.fr"),
                ("Vignobles Fontaine", "vignobles-fontaine.fr"),
                ("Informatique Mercier SAS", "mercier-informatique.fr"),
                ("Lycée Jean Moulin", "lycee-jeanmoulin.fr"),
            ],
            Country::Au => &[
                (
                    "Southern Cross Freight Pty Ltd",
                    "southerncrossfreight.com.au",
                ),
                ("Eucalypt Digital", "eucalyptdigital.com.au"),
                ("Coral Coast Realty", "coralcoastrealty.com.au"),
                ("Bondi Physio Group", "bondiphysio.com.au"),
                ("Outback Mining Services Pty Ltd", "outbackmining.com.au"),
                ("Harbour City Accountants", "harbourcityaccountants.com.au"),
                ("Wattle Grove Medical Centre", "wattlegrovemedical.com.au"),
                ("Kookaburra Constructions", "kookaburracon.com.au"),
                ("Riverina Growers Co-op", "riverinagrowers.com.au"),
                ("Blue Gum Legal", "bluegumlegal.com.au"),
            ],
        }
    }
}

static GB_LOCALITIES: &[Locality] = &[
    gb(
        "London",
        "Greater London",
        &["E", "N", "SE", "SW", "W", "NW"],
        20,
        &["20"],
        "378",
        90,
    ),
    gb(
        "Manchester",
        "Greater Manchester",
        &["M"],
        40,
        &["161"],
        "2345789",
        25,
    ),
    gb(
        "Birmingham",
        "West Midlands",
        &["B"],
        40,
        &["121"],
        "234567",
        25,
    ),
    gb("Leeds", "West Yorkshire", &["LS"], 28, &["113"], "2345", 18),
    gb(
        "Glasgow",
        "Lanarkshire",
        &["G"],
        40,
        &["141"],
        "2345789",
        16,
    ),
    gb("Edinburgh", "Midlothian", &["EH"], 30, &["131"], "2345", 12),
    gb("Liverpool", "Merseyside", &["L"], 30, &["151"], "2345", 13),
    gb("Bristol", "Avon", &["BS"], 30, &["117"], "29", 12),
    gb(
        "Sheffield",
        "South Yorkshire",
        &["S"],
        20,
        &["114"],
        "2",
        11,
    ),
    gb("Cardiff", "South Glamorgan", &["CF"], 24, &["29"], "2", 9),
    gb(
        "Nottingham",
        "Nottinghamshire",
        &["NG"],
        20,
        &["115"],
        "9",
        9,
    ),
    gb(
        "Newcastle upon Tyne",
        "Tyne and Wear",
        &["NE"],
        20,
        &["191"],
        "2",
        9,
    ),
    gb("Brighton", "East Sussex", &["BN"], 3, &["1273"], "2356", 6),
    gb("Reading", "Berkshire", &["RG"], 6, &["118"], "9", 6),
    gb("Oxford", "Oxfordshire", &["OX"], 4, &["1865"], "27", 5),
    gb(
        "Cambridge",
        "Cambridgeshire",
        &["CB"],
        5,
        &["1223"],
        "23456",
        5,
    ),
    gb("York", "North Yorkshire", &["YO"], 32, &["1904"], "46", 4),
];

static US_LOCALITIES: &[Locality] = &[
    us(
        "New York",
        "NY",
        "New York",
        10001,
        10282,
        &["212", "646", "718"],
        80,
    ),
    us(
        "Los Angeles",
        "CA",
        "California",
        90001,
        90089,
        &["213", "310", "323"],
        40,
    ),
    us(
        "Chicago",
        "IL",
        "Illinois",
        60601,
        60661,
        &["312", "773"],
        27,
    ),
    us("Houston", "TX", "Texas", 77001, 77099, &["713", "832"], 23),
    us(
        "Phoenix",
        "AZ",
        "Arizona",
        85001,
        85054,
        &["602", "480"],
        16,
    ),
    us(
        "Philadelphia",
        "PA",
        "Pennsylvania",
        19102,
        19154,
        &["215", "267"],
        16,
    ),
    us("San Antonio", "TX", "Texas", 78201, 78266, &["210"], 15),
    us(
        "San Diego",
        "CA",
        "California",
        92101,
        92199,
        &["619", "858"],
        14,
    ),
    us("Dallas", "TX", "Texas", 75201, 75398, &["214", "469"], 13),
    us("Austin", "TX", "Texas", 78701, 78759, &["512"], 10),
    us("Columbus", "OH", "Ohio", 43085, 43235, &["614"], 9),
    us("Seattle", "WA", "Washington", 98101, 98199, &["206"], 8),
    us("Denver", "CO", "Colorado", 80201, 80239, &["303", "720"], 7),
    us("Boston", "MA", "Massachusetts", 2108, 2137, &["617"], 7),
    us("Nashville", "TN", "Tennessee", 37201, 37250, &["615"], 7),
    us("Portland", "OR", "Oregon", 97201, 97236, &["503"], 6),
    us("Atlanta", "GA", "Georgia", 30301, 30350, &["404", "678"], 5),
    us("Miami", "FL", "Florida", 33101, 33199, &["305", "786"], 5),
    us("Minneapolis", "MN", "Minnesota", 55401, 55488, &["612"], 4),
    us("Springfield", "IL", "Illinois", 62701, 62796, &["217"], 2),
    us(
        "Springfield",
        "MA",
        "Massachusetts",
        1101,
        1199,
        &["413"],
        2,
    ),
    us("Portland", "ME", "Maine", 4101, 4124, &["207"], 1),
];

static DE_LOCALITIES: &[Locality] = &[
    de("Berlin", "Berlin", 10115, 14199, &["30"], "23456789", 37),
    de("Hamburg", "Hamburg", 20095, 22769, &["40"], "23456789", 19),
    de("München", "Bayern", 80331, 81929, &["89"], "23456789", 15),
    de(
        "Köln",
        "Nordrhein-Westfalen",
        50667,
        51149,
        &["221"],
        "23456789",
        11,
    ),
    de(
        "Frankfurt am Main",
        "Hessen",
        60306,
        60599,
        &["69"],
        "23456789",
        8,
    ),
    de(
        "Stuttgart",
        "Baden-Württemberg",
        70173,
        70629,
        &["711"],
        "23456789",
        6,
    ),
    de(
        "Düsseldorf",
        "Nordrhein-Westfalen",
        40210,
        40629,
        &["211"],
        "23456789",
        6,
    ),
    de("Leipzig", "Sachsen", 4103, 4357, &["341"], "23456789", 6),
    de(
        "Dortmund",
        "Nordrhein-Westfalen",
        44135,
        44388,
        &["231"],
        "23456789",
        6,
    ),
    de(
        "Essen",
        "Nordrhein-Westfalen",
        45127,
        45359,
        &["201"],
        "23456789",
        6,
    ),
    de("Bremen", "Bremen", 28195, 28779, &["421"], "23456789", 6),
    de("Dresden", "Sachsen", 1067, 1328, &["351"], "23456789", 6),
    de(
        "Hannover",
        "Niedersachsen",
        30159,
        30669,
        &["511"],
        "23456789",
        5,
    ),
    de("Nürnberg", "Bayern", 90402, 90491, &["911"], "23456789", 5),
    de(
        "Frankfurt (Oder)",
        "Brandenburg",
        15230,
        15236,
        &["335"],
        "23456789",
        1,
    ),
];

static FR_LOCALITIES: &[Locality] = &[
    fr(
        "Paris",
        "Île-de-France",
        &[
            75001, 75002, 75003, 75004, 75005, 75006, 75007, 75008, 75009, 75010, 75011, 75012,
            75013, 75014, 75015, 75016, 75017, 75018, 75019, 75020,
        ],
        &["1"],
        "2345678",
        45,
    ),
    fr(
        "Marseille",
        "Provence-Alpes-Côte d'Azur",
        &[
            13001, 13002, 13003, 13004, 13005, 13006, 13007, 13008, 13009, 13010, 13011, 13012,
            13013, 13014, 13015, 13016,
        ],
        &["4"],
        "9",
        18,
    ),
    fr(
        "Lyon",
        "Auvergne-Rhône-Alpes",
        &[
            69001, 69002, 69003, 69004, 69005, 69006, 69007, 69008, 69009,
        ],
        &["4"],
        "7",
        11,
    ),
    fr(
        "Toulouse",
        "Occitanie",
        &[31000, 31100, 31200, 31300, 31400, 31500],
        &["5"],
        "6",
        10,
    ),
    fr(
        "Nice",
        "Provence-Alpes-Côte d'Azur",
        &[6000, 6100, 6200, 6300],
        &["4"],
        "9",
        7,
    ),
    fr(
        "Nantes",
        "Pays de la Loire",
        &[44000, 44100, 44200, 44300],
        &["2"],
        "4",
        6,
    ),
    fr(
        "Strasbourg",
        "Grand Est",
        &[67000, 67100, 67200],
        &["3"],
        "8",
        6,
    ),
    fr(
        "Montpellier",
        "Occitanie",
        &[34000, 34070, 34080, 34090],
        &["4"],
        "6",
        6,
    ),
    fr(
        "Bordeaux",
        "Nouvelle-Aquitaine",
        &[33000, 33100, 33200, 33300, 33800],
        &["5"],
        "5",
        5,
    ),
    fr(
        "Lille",
        "Hauts-de-France",
        &[59000, 59160, 59260, 59777, 59800],
        &["3"],
        "2",
        5,
    ),
    fr("Rennes", "Bretagne", &[35000, 35200, 35700], &["2"], "9", 4),
];

static AU_LOCALITIES: &[Locality] = &[
    au(
        "Sydney",
        "NSW",
        "New South Wales",
        2000,
        2234,
        &["2"],
        "98",
        52,
    ),
    au("Melbourne", "VIC", "Victoria", 3000, 3207, &["3"], "98", 50),
    au("Brisbane", "QLD", "Queensland", 4000, 4179, &["7"], "3", 25),
    au(
        "Perth",
        "WA",
        "Western Australia",
        6000,
        6199,
        &["8"],
        "9",
        21,
    ),
    au(
        "Adelaide",
        "SA",
        "South Australia",
        5000,
        5199,
        &["8"],
        "87",
        13,
    ),
    au(
        "Gold Coast",
        "QLD",
        "Queensland",
        4207,
        4231,
        &["7"],
        "5",
        7,
    ),
    au(
        "Newcastle",
        "NSW",
        "New South Wales",
        2280,
        2310,
        &["2"],
        "9",
        5,
    ),
    au(
        "Canberra",
        "ACT",
        "Australian Capital Territory",
        2600,
        2620,
        &["2"],
        "6",
        4,
    ),
    au(
        "Hobart",
        "TAS",
        "Tasmania",
        7000,
        7099,
        &["362"],
        "23456789",
        2,
    ),
    au(
        "Darwin",
        "NT",
        "Northern Territory",
        800,
        832,
        &["8"],
        "9",
        1,
    ),
];

const fn gb(
    name: &'static str,
    region: &'static str,
    postcode_areas: &'static [&'static str],
    districts: u32,
    areas: &'static [&'static str],
    leads: &'static str,
    weight: u32,
) -> Locality {
    Locality {
        name,
        region,
        region_full: region,
        postcodes: Postcodes::Gb(postcode_areas, districts),
        areas,
        leads,
        weight,
    }
}

const fn us(
    name: &'static str,
    state: &'static str,
    state_name: &'static str,
    low: u32,
    high: u32,
    areas: &'static [&'static str],
    weight: u32,
) -> Locality {
    Locality {
        name,
        region: state,
        region_full: state_name,
        postcodes: Postcodes::Range(low, high),
        areas,
        leads: "",
        weight,
    }
}

const fn de(
    name: &'static str,
    land: &'static str,
    low: u32,
    high: u32,
    areas: &'static [&'static str],
    leads: &'static str,
    weight: u32,
) -> Locality {
    Locality {
        name,
        region: land,
        region_full: land,
        postcodes: Postcodes::Range(low, high),
        areas,
        leads,
        weight,
    }
}

const fn fr(
    name: &'static str,
    region: &'static str,
    postcodes: &'static [u32],
    areas: &'static [&'static str],
    leads: &'static str,
    weight: u32,
) -> Locality {
    Locality {
        name,
        region,
        region_full: region,
        postcodes: Postcodes::List(postcodes),
        areas,
        leads,
        weight,
    }
}

#[allow(clippy::too_many_arguments, reason = "one row of a table")]
const fn au(
    name: &'static str,
    state: &'static str,
    state_name: &'static str,
    low: u32,
    high: u32,
    areas: &'static [&'static str],
    leads: &'static str,
    weight: u32,
) -> Locality {
    Locality {
        name,
        region: state,
        region_full: state_name,
        postcodes: Postcodes::Range(low, high),
        areas,
        leads,
        weight,
    }
}

/// English street names (GB, US, AU), most common first.
static ENGLISH_STREETS: &[&str] = &[
    "High",
    "Station",
    "Church",
    "Main",
    "Park",
    "Victoria",
    "Green",
    "Manor",
    "Mill",
    "Oak",
    "Maple",
    "Elm",
    "Cedar",
    "Pine",
    "Bridge",
    "Market",
    "School",
    "North",
    "South",
    "West",
    "Orchard",
    "Chestnut",
    "Willow",
    "Highland",
    "Lake",
    "Hill",
    "Forest",
    "Spring",
    "Sunset",
    "Riverside",
    "George",
    "York",
    "Albert",
    "Windsor",
    "Grove",
    "Meadow",
    "Washington",
    "Lincoln",
    "Jefferson",
    "Franklin",
    "Madison",
    "Cherry",
    "Walnut",
    "Birch",
    "Beech",
    "Hawthorn",
    "Sycamore",
    "Abbey",
    "Castle",
    "Queens",
    "Kings",
    "New",
    "Cambridge",
    "Oxford",
    "Wellington",
    "Nelson",
    "Elizabeth",
    "Prospect",
    "Fairview",
    "Ashford",
    "Greenwood",
    "Heathfield",
    "Kingsley",
    "Laurel",
    "Magnolia",
    "Primrose",
    "Rosemary",
    "Thornton",
    "Whitehall",
];

/// German street names: the part before the street type ("Haupt" + "straße").
static GERMAN_STREETS: &[&str] = &[
    "Haupt",
    "Bahnhof",
    "Garten",
    "Schul",
    "Dorf",
    "Kirch",
    "Berg",
    "Wald",
    "Linden",
    "Birken",
    "Goethe",
    "Schiller",
    "Mozart",
    "Beethoven",
    "Friedrich",
    "Wilhelm",
    "Rosen",
    "Tannen",
    "Eichen",
    "Buchen",
    "Feld",
    "Wiesen",
    "Mühlen",
    "Sonnen",
    "Kant",
    "Bismarck",
    "Luisen",
    "Markt",
    "Park",
    "Post",
    "Ahorn",
    "Amsel",
    "Blumen",
    "Brunnen",
    "Burg",
    "Fichten",
    "Hafen",
    "Industrie",
    "Jahn",
    "Kastanien",
    "Lessing",
    "Mittel",
    "Ost",
    "Quellen",
    "Ring",
    "Schloss",
    "Tal",
    "Uhland",
    "Weiden",
];

/// French street names: the part after the street type ("Rue" + "de la Paix").
static FRENCH_STREETS: &[&str] = &[
    "de la République",
    "Victor Hugo",
    "de la Gare",
    "Jean Jaurès",
    "du Général de Gaulle",
    "Pasteur",
    "de la Paix",
    "des Lilas",
    "du Moulin",
    "Voltaire",
    "Gambetta",
    "de l'Église",
    "des Écoles",
    "Saint-Michel",
    "Émile Zola",
    "de Verdun",
    "du Château",
    "des Tilleuls",
    "Carnot",
    "Jules Ferry",
    "de la Liberté",
    "du Stade",
    "des Roses",
    "de Paris",
    "Nationale",
    "Foch",
    "Anatole France",
    "des Acacias",
    "du Port",
    "Sadi Carnot",
    "des Vignes",
    "de la Fontaine",
    "du Marché",
    "Jean Moulin",
    "des Peupliers",
];

/// German cities' adjectives for streets written in two words ("Berliner Straße").
pub(super) static GERMAN_CITY_STREETS: &[&str] = &[
    "Berliner",
    "Hamburger",
    "Frankfurter",
    "Münchner",
    "Kölner",
    "Potsdamer",
    "Leipziger",
    "Dresdner",
    "Bremer",
    "Hannoversche",
];
