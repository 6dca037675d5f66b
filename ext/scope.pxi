# placeholder, replaced by the scope fragment
