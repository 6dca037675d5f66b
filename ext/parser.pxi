# placeholder, replaced by the parser fragment
