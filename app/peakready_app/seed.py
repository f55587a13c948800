"""Sample data: the twelve outlets of "Dapur Nusantara", an Indonesian restaurant chain, and their
menus. Deterministic: the same rows on every run (a fixed random seed)."""

import random
from dataclasses import dataclass

from .validation import CATEGORIES

SEED = 20240817

# (slug, city, address, phone, opens, closes, seats, price factor: cost of living vs Jakarta)
OUTLETS = [
    ("jakarta-menteng", "Jakarta", "Jl. H.O.S. Cokroaminoto No. 84, Menteng", "+62 21 3190 4421",
     "10:00", "22:00", 120, 1.00),
    ("jakarta-kemang", "Jakarta", "Jl. Kemang Raya No. 17, Mampang Prapatan", "+62 21 7179 2210",
     "10:00", "23:00", 95, 1.00),
    ("bandung-dago", "Bandung", "Jl. Ir. H. Juanda No. 102, Dago", "+62 22 2503 118",
     "09:00", "22:00", 80, 0.90),
    ("surabaya-darmo", "Surabaya", "Jl. Raya Darmo No. 56, Wonokromo", "+62 31 5678 902",
     "10:00", "22:00", 110, 0.95),
    ("yogyakarta-prawirotaman", "Yogyakarta", "Jl. Prawirotaman No. 21, Mergangsan", "+62 274 381 455",
     "08:00", "22:00", 60, 0.80),
    ("semarang-simpang-lima", "Semarang", "Jl. Pahlawan No. 9, Simpang Lima", "+62 24 8414 771",
     "10:00", "21:30", 70, 0.85),
    ("medan-merdeka", "Medan", "Jl. Balai Kota No. 12, Kesawan", "+62 61 4530 662",
     "10:00", "22:00", 90, 0.90),
    ("denpasar-renon", "Denpasar", "Jl. Raya Puputan No. 41, Renon", "+62 361 226 390",
     "09:00", "23:00", 100, 1.05),
    ("makassar-losari", "Makassar", "Jl. Penghibur No. 3, Losari", "+62 411 361 228",
     "10:00", "22:00", 85, 0.90),
    ("malang-ijen", "Malang", "Jl. Besar Ijen No. 77, Klojen", "+62 341 551 903",
     "09:00", "21:00", 55, 0.80),
    ("palembang-ampera", "Palembang", "Jl. Sudirman No. 145, Ilir Timur", "+62 711 352 610",
     "10:00", "22:00", 75, 0.85),
    ("balikpapan-klandasan", "Balikpapan", "Jl. Jend. Sudirman No. 28, Klandasan", "+62 542 733 415",
     "10:00", "22:00", 65, 1.00),
]

# category -> (name, description, Jakarta price in rupiah)
DISHES: dict[str, list[tuple[str, str, int]]] = {
    "rice": [
        ("Nasi Goreng Kampung", "Village-style fried rice with shrimp paste, fried egg and crackers", 38000),
        ("Nasi Goreng Seafood", "Fried rice with prawns, squid and sweet soy", 52000),
        ("Nasi Uduk Komplit", "Coconut rice, fried chicken, tempeh, egg and peanut sambal", 45000),
        ("Nasi Campur Bali", "Steamed rice with shredded chicken, lawar, satay lilit and sambal matah", 58000),
        ("Nasi Liwet Solo", "Savoury coconut rice with chicken, chayote and egg", 42000),
        ("Nasi Rendang", "Steamed rice with slow-cooked beef rendang and cassava leaves", 62000),
        ("Nasi Kuning", "Turmeric rice with fried chicken, potato fritter and egg", 40000),
        ("Nasi Bakar Cakalang", "Banana-leaf grilled rice with spiced skipjack tuna", 44000),
    ],
    "noodles": [
        ("Mie Goreng Jawa", "Javanese fried noodles with chicken, cabbage and egg", 36000),
        ("Mie Aceh", "Spicy Acehnese noodles with beef and emping crackers", 48000),
        ("Bakmi Ayam", "Egg noodles with soy-braised chicken and wontons", 39000),
        ("Kwetiau Siram Sapi", "Flat rice noodles in a thick beef gravy", 47000),
        ("Mie Kocok Bandung", "Noodles in beef broth with tendon, bean sprouts and lime", 45000),
        ("Bihun Goreng", "Stir-fried rice vermicelli with vegetables and fish balls", 34000),
        ("Mie Celor Palembang", "Noodles in a rich coconut and dried-shrimp broth", 42000),
    ],
    "soups": [
        ("Soto Ayam Lamongan", "Turmeric chicken soup with koya powder and rice", 35000),
        ("Soto Betawi", "Beef soup in coconut milk with tomato and potato", 49000),
        ("Rawon Surabaya", "Black keluak beef soup with salted egg", 52000),
        ("Sop Buntut", "Oxtail soup with carrots and potatoes", 89000),
        ("Sayur Asem", "Sour tamarind vegetable soup", 22000),
        ("Coto Makassar", "Beef and offal soup thickened with roasted peanuts", 46000),
        ("Pindang Patin", "Sweet-sour catfish soup from Palembang", 55000),
    ],
    "grills": [
        ("Sate Ayam Madura", "Ten chicken skewers with peanut sauce and rice cakes", 42000),
        ("Sate Kambing", "Ten goat skewers with sweet soy and shallots", 65000),
        ("Sate Lilit", "Balinese minced fish satay on lemongrass", 48000),
        ("Ayam Bakar Taliwang", "Lombok-style grilled chicken with chilli glaze", 58000),
        ("Ikan Bakar Jimbaran", "Grilled snapper with sambal and lime", 95000),
        ("Iga Bakar", "Grilled beef ribs with sweet soy glaze", 110000),
        ("Sate Padang", "Beef skewers in a spiced turmeric sauce", 46000),
        ("Bebek Bakar", "Grilled duck with sambal ijo", 72000),
    ],
    "snacks": [
        ("Tahu Isi", "Fried tofu stuffed with vegetables", 18000),
        ("Pisang Goreng", "Fried banana fritters", 20000),
        ("Martabak Telur", "Savoury pancake with egg, leek and minced beef", 45000),
        ("Lumpia Semarang", "Bamboo-shoot spring rolls with sweet sauce", 28000),
        ("Pempek Kapal Selam", "Fish cake with egg and cuka sauce", 32000),
        ("Gado-Gado", "Vegetables, tofu and egg with peanut dressing", 35000),
        ("Bakwan Jagung", "Sweet corn fritters", 19000),
        ("Otak-Otak", "Grilled fish cakes in banana leaf", 25000),
    ],
    "desserts": [
        ("Es Cendol", "Pandan jelly, coconut milk and palm sugar over ice", 22000),
        ("Klepon", "Pandan rice balls filled with palm sugar, in grated coconut", 18000),
        ("Es Campur", "Shaved ice with fruit, jelly and condensed milk", 28000),
        ("Martabak Manis", "Thick sweet pancake with chocolate and cheese", 48000),
        ("Dadar Gulung", "Pandan crepe rolled with sweet coconut", 17000),
        ("Bubur Sumsum", "Rice-flour pudding with palm sugar syrup", 16000),
        ("Pisang Ijo", "Banana wrapped in green dough with coconut milk", 24000),
    ],
    "drinks": [
        ("Es Teh Manis", "Sweet iced jasmine tea", 10000),
        ("Es Jeruk", "Fresh iced orange juice", 18000),
        ("Jus Alpukat", "Avocado juice with chocolate syrup", 28000),
        ("Es Kelapa Muda", "Young coconut water with the flesh", 25000),
        ("Wedang Jahe", "Hot ginger drink with palm sugar", 15000),
        ("Bandrek", "Hot ginger and spice drink from West Java", 17000),
        ("Es Teler", "Avocado, jackfruit and coconut in sweet milk", 30000),
        ("Teh Tarik", "Pulled milk tea", 20000),
    ],
    "coffee": [
        ("Kopi Tubruk", "Unfiltered Javanese black coffee", 15000),
        ("Es Kopi Susu Gula Aren", "Iced espresso with milk and palm sugar", 28000),
        ("Kopi Toraja", "Pour-over single origin from Toraja", 32000),
        ("Kopi Gayo", "Pour-over single origin from Aceh Gayo", 32000),
        ("Kopi Jahe", "Black coffee with ginger", 18000),
        ("Cappuccino", "Espresso with steamed milk foam", 30000),
    ],
}

assert tuple(DISHES) == CATEGORIES, "seed.DISHES and validation.CATEGORIES must list the same categories"

ITEMS_PER_CATEGORY = (3, 7)  # each outlet lists between 3 and 7 dishes of each category
FEATURED_PER_OUTLET = 3
UNAVAILABLE_RATE = 0.03


@dataclass(frozen=True)
class Outlet:
    slug: str
    name: str
    city: str
    address: str
    phone: str
    opens_at: str
    closes_at: str
    seats: int


@dataclass(frozen=True)
class MenuItem:
    outlet_index: int  # position in outlets(), whose ids the database assigns
    category: str
    name: str
    description: str
    price_idr: int
    is_featured: bool
    is_available: bool


def outlets() -> list[Outlet]:
    return [Outlet(slug, f"Dapur Nusantara {city} {slug.split('-', 1)[1].replace('-', ' ').title()}",
                   city, address, phone, opens, closes, seats)
            for slug, city, address, phone, opens, closes, seats, _ in OUTLETS]


def menu_items() -> list[MenuItem]:
    rng = random.Random(SEED)
    items: list[MenuItem] = []
    for index, (*_, factor) in enumerate(OUTLETS):
        mine: list[tuple[str, str, str, int]] = []
        for category, dishes in DISHES.items():
            count = min(len(dishes), rng.randint(*ITEMS_PER_CATEGORY))
            for name, description, price in rng.sample(dishes, count):
                local = round(price * factor * rng.uniform(0.95, 1.05) / 500) * 500  # rupiah, to 500
                mine.append((category, name, description, local))
        featured = set(rng.sample(range(len(mine)), FEATURED_PER_OUTLET))
        for n, (category, name, description, price) in enumerate(mine):
            items.append(MenuItem(index, category, name, description, price, n in featured,
                                  n in featured or rng.random() >= UNAVAILABLE_RATE))
    return items
