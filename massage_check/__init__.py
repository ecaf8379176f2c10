"""massage_check"""
