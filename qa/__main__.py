from qa.surfaces.cli import main

main()
