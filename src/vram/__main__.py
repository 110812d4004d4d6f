from vram.cli import main

main()
