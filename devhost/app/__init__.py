"""Load the user's function app, index its functions and invoke them."""
