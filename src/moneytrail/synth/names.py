"""Word lists for the synthetic investigation: people, businesses, places, merchants.

Every name here is made up. Lists are plain tuples so that drawing from them with a seeded
``random.Random`` is deterministic (no set iteration anywhere).
"""

from __future__ import annotations

FIRST_NAMES = (
    "Maria", "Jose", "James", "Linda", "Robert", "Patricia", "Michael", "Jennifer", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Carlos", "Karen", "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra",
    "Luis", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Juan", "Michelle",
    "Kevin", "Carol", "Brian", "Amanda", "George", "Melissa", "Edward", "Deborah", "Ronald",
    "Stephanie", "Timothy", "Rebecca", "Jason", "Laura", "Jeffrey", "Sharon", "Ryan", "Cynthia",
    "Jacob", "Kathleen", "Gary", "Amy", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Anna",
    "Miguel", "Brenda", "Larry", "Pamela", "Justin", "Emma", "Scott", "Nicole", "Brandon", "Helen",
    "Benjamin", "Samantha", "Samuel", "Katherine", "Gregory", "Christine", "Alexander", "Debra",
    "Frank", "Rachel", "Raymond", "Carolyn", "Jack", "Janet", "Dennis", "Catherine", "Jerry",
    "Maribel", "Tyler", "Guadalupe", "Aaron", "Rosa", "Hector", "Yesenia", "Tuan", "Linh", "Wei",
    "Mei", "Darnell", "Latoya", "Andre", "Keisha", "Omar", "Fatima", "Raj", "Priya", "Ahmed",
    "Olga", "Dmitri", "Nadia", "Francisco", "Alejandra", "Jorge", "Veronica", "Ricardo", "Lucia",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
    "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres",
    "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell",
    "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker",
    "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy", "Cook",
    "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly",
    "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood",
    "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo",
    "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez", "Tran", "Pham", "Vargas",
    "Okafor", "Mensah", "Ivanov", "Kowalski", "Haddad", "Shah", "Chen", "Wang", "Le", "Vu",
    "Delgado", "Aguilar", "Salazar", "Contreras", "Marsh", "Becker", "Klein", "Fischer",
)

INITIALS = "ABCDEFGHJKLMNPRSTVW"

# Places. Home metro (where the ordinary population lives) and a travel circuit.
HOME_CITIES = (
    ("Houston", "TX", 40), ("Pasadena", "TX", 8), ("Sugar Land", "TX", 6), ("Katy", "TX", 6),
    ("Pearland", "TX", 6), ("Baytown", "TX", 5), ("The Woodlands", "TX", 5),
    ("League City", "TX", 4), ("Galveston", "TX", 3), ("Conroe", "TX", 3),
)
TRAVEL_CITIES = (
    ("Dallas", "TX"), ("San Antonio", "TX"), ("Austin", "TX"), ("Beaumont", "TX"),
    ("Corpus Christi", "TX"), ("Laredo", "TX"), ("New Orleans", "LA"), ("Baton Rouge", "LA"),
    ("Shreveport", "LA"), ("Atlanta", "GA"), ("Memphis", "TN"), ("Oklahoma City", "OK"),
    ("Little Rock", "AR"), ("Jackson", "MS"), ("Birmingham", "AL"), ("Las Vegas", "NV"),
)
STREETS = (
    "Main St", "Westheimer Rd", "Bellaire Blvd", "Fannin St", "Kirby Dr", "Gessner Rd",
    "Richmond Ave", "Airline Dr", "Telephone Rd", "Spencer Hwy", "Fairmont Pkwy", "Market St",
    "Broadway", "Commerce St", "Elm St", "Oak Ave", "Cedar Ln", "Pine St", "Maple Dr", "Lamar Ave",
    "Jefferson Ave", "Washington Ave", "Memorial Dr", "Beechnut St", "Bissonnet St", "Hillcroft Ave",
    "Gulf Fwy", "Texas Ave", "Magnolia St", "Canal St", "Peachtree St", "Poplar Ave",
)

# Businesses.
TRADES = (
    "Plumbing", "Electric", "Roofing", "Landscaping", "Dental Group", "Auto Repair", "Logistics",
    "Construction", "HVAC Services", "Accounting", "Law Office", "Medical Clinic", "IT Solutions",
    "Machine Works", "Trucking", "Insurance Agency", "Printing", "Engineering", "Pediatrics",
    "Fabrication", "Marine Services", "Realty", "Home Health", "Veterinary Clinic", "Pest Control",
    "Pool Service", "Welding", "Signs & Graphics", "Moving Co", "Architects", "Chiropractic",
    "Oilfield Services", "Freight", "Tire & Wheel", "Glass Co", "Flooring", "Cabinetry",
)
BIZ_ADJ = (
    "Gulf Coast", "Bayou City", "Lone Star", "Coastal", "Summit", "Pioneer", "Premier", "Eagle",
    "Magnolia", "Heritage", "Riverside", "Golden Triangle", "Liberty", "Trinity", "Cypress",
    "Bluebonnet", "Clear Lake", "Northside", "Allied", "Capital", "United", "Keystone",
)
BIZ_SUFFIX = ("LLC", "Inc", "LLC", "Co", "LLC", "Inc", "Group LLC", "PLLC", "Ltd")
LANDLORD_BIZ = (
    "Property Management", "Apartments", "Residential", "Realty Management", "Homes", "Rentals",
    "Housing Partners", "Properties",
)

# Merchant catalogue: (category, brand, per-city?). Per-city brands get one account per city.
MERCHANTS = (
    ("grocery", "FreshMart", True), ("grocery", "Valley Foods", True),
    ("grocery", "Sunrise Market", True), ("grocery", "La Fiesta Supermercado", True),
    ("fuel", "QuickFuel", True), ("fuel", "Gulf Star Gas", True), ("fuel", "PetroPlus", True),
    ("restaurant", "Taqueria El Sol", True), ("restaurant", "Burger Barn", True),
    ("restaurant", "Pho Saigon", True), ("restaurant", "Lucky Dragon", True),
    ("restaurant", "Bayou Grill", True), ("restaurant", "Pizza Palace", True),
    ("restaurant", "Daily Grind Coffee", True), ("restaurant", "Chicken Shack", True),
    ("pharmacy", "CareRx Pharmacy", True), ("pharmacy", "HealthPlus Drug", True),
    ("retail", "ValueMart", True), ("retail", "HomeBuild Supply", True),
    ("retail", "Dollar Depot", True),
    ("online", "ShopNow.com", False), ("online", "StreamFlix", False),
    ("online", "eBuy Marketplace", False), ("online", "AppWorld Digital", False),
    ("online", "GameVault Online", False),
    ("rideshare", "RideNow", False), ("airline", "SkyJet Airlines", False),
    ("bus", "Lone Star Coach Lines", False),
    ("ads", "ClassiPost Online", False), ("prepaid", "PrePay Wireless", False),
    ("remittance", "Remesas Express", False),
)
LODGING = ("Budget Inn", "Roadway Motel", "Starlite Motor Lodge", "Comfort Stay Suites",
           "Travelers Rest Motel", "Sleep Easy Inn")

UTILITIES = (
    # (key, name, bank, share of individuals, base amount range in dollars, fixed?)
    ("electric", "Gulf Coast Electric Co", "A", 0.80, (60, 240), False),
    ("internet", "Metro Fiber Internet", "A", 0.55, (55, 90), True),
    ("mobile", "Horizon Wireless", "B", 0.55, (40, 160), True),
    ("water", "City Water Utility", "A", 0.35, (30, 95), False),
    ("gas", "Lone Star Gas Co", "C", 0.20, (25, 80), False),
)

FRONT_NAMES = ("Brightway Staffing Solutions LLC", "Premier CleanPro Services LLC",
               "Allstar Janitorial Group LLC", "Golden Hands Cleaning Services LLC")
BROKER_TRADES = ("Labor Services", "Labor Contracting", "Workforce Services", "Crew Services")
SHELL_NAMES = ("Apex Global Trading LLC", "Meridian Consulting Group Inc", "Northgate Holdings LLC",
               "Silverline Imports Ltd", "Bluewater Ventures LLC", "Orion Capital Partners Inc",
               "Castlegate Commodities LLC", "Harborview Export Co")
